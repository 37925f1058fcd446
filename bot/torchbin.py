"""PyTorch `.bin` checkpoints (`torch.save` zips) read header-only, without unpickling anything.

A `torch.save` file (PyTorch >= 1.6) is a zip holding `<archive>/data.pkl` (the pickled state dict, stored
uncompressed), one `<archive>/data/<key>` record per storage, and a few small records. Two range reads suffice: the
end of the file (end-of-central-directory record, ZIP64 locator and record, the central directory), then data.pkl.
Its opcodes are walked by a symbolic machine that builds inert placeholders for calls and imports: nothing is ever
imported or called, so a hostile pickle can only make this module report what it would have run.

No torch import here: `hublint check` must never import torch.
"""

from __future__ import annotations

import io
import math
import pickletools
import struct
from dataclasses import dataclass, field
from typing import Any

from hublint.parsing import RangeReader
from hublint.rules.snapshot import TensorHeader, WeightsFile

FORMAT = "pytorch"
# The first read, from the end: EOCD + ZIP64 records + (we hope) the whole directory, ~65 bytes per record. Every
# read is a resolver request, so the guess is generous: 1/64 of the file within these bounds covers a 7B LoRA's
# directory (~8 kB) in one read without reading a toy adapter whole; a 7B base's (~18 kB) costs one more read of
# exactly the missing bytes.
TAIL_READ_BYTES = 16_384
MIN_TAIL_READ_BYTES = 4_096
LOCAL_HEADER_SLACK = 128  # local extra field: PyTorch pads data to 64-byte alignment, ZIP64 adds 20 bytes
MAX_PICKLE_BYTES = 32_000_000  # ~150 bytes per tensor: far beyond any real state dict
MAX_DIRECTORY_BYTES = 64_000_000

# Legacy torch.save (PyTorch < 1.6): a bare pickle stream that starts with a pickled magic number.
LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f920")
LEGACY_REASON = (
    "{path} is a legacy PyTorch checkpoint (saved by PyTorch < 1.6 as a bare pickle stream), whose tensor shapes"
    " cannot be read without unpickling it"
)

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_ZIP64_EXTRA_ID = 0x0001
_U16, _U32 = 0xFFFF, 0xFFFFFFFF

# torch storage classes and dtypes -> safetensors dtype names (the vocabulary of TensorHeader.dtype)
STORAGE_DTYPES = {
    "DoubleStorage": "F64",
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64",
    "ComplexDoubleStorage": "C128",
    "QInt8Storage": "I8",
    "QUInt8Storage": "U8",
    "QInt32Storage": "I32",
}
TORCH_DTYPES = {
    "float64": "F64",
    "double": "F64",
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "long": "I64",
    "int32": "I32",
    "int": "I32",
    "int16": "I16",
    "short": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
    "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "float8_e8m0fnu": "F8_E8M0",
    "complex64": "C64",
    "complex128": "C128",
}
ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4}
ITEM_BYTES |= {"I64": 8, "U64": 8, "F64": 8, "C64": 8, "C128": 16}
ITEM_BYTES |= {name: 1 for name in ("F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0")}

# tensor name -> storage: how each rebuild function lays out its arguments (torch/_tensor.py __reduce_ex__)
REBUILD_TENSOR = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}
REBUILD_PARAMETER = {"_rebuild_parameter", "_rebuild_parameter_with_state"}
_MAX_INDEX = 2**63


class Malformed(Exception):
    """The file is not a readable torch.save zip: a one-line reason (an integrity finding)."""


class Unsupported(Exception):
    """The file cannot be read without unpickling, though it may be fine (e.g. the legacy format)."""


# ------------------------------------------------------------------------------------------------ the zip


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int  # 0 = stored
    compressed_size: int
    size: int
    header_offset: int


@dataclass(frozen=True)
class Directory:
    entries: dict[str, ZipEntry]
    offset: int  # where the central directory starts: every record's bytes lie before it


def read_torch_bin(path: str, size: int | None, read_range: RangeReader) -> WeightsFile:
    """The tensors of one torch.save file from two range reads (three when the directory is large)."""
    try:
        if size is None:  # a listing without sizes: the file's head tells the size, and usually holds data.pkl
            head, size = read_range(0, TAIL_READ_BYTES)
            if size is None:
                raise Unsupported("the server reports no file size, so the end of the file cannot be found")
            read_range = _served_from(head, size, read_range)
        directory = _read_directory(path, size, read_range)
        archive, pickle_entry = _data_pickle(directory)
        pickle_bytes = _read_record(pickle_entry, directory, read_range)
        state, imports = walk_pickle(pickle_bytes)
    except Unsupported as exc:
        return WeightsFile(path, size, format=FORMAT, unsupported=str(exc))
    except Malformed as exc:
        return WeightsFile(path, size, format=FORMAT, error=str(exc))
    tensors, problems = tensors_of(state, archive, directory)
    return WeightsFile(
        path,
        size,
        tensors=tensors,
        format=FORMAT,
        imports=tuple(imports),
        problems=tuple(_record_problems(directory, size) + problems),
    )


def _served_from(head: bytes, size: int, read_range: RangeReader) -> RangeReader:
    """`read_range`, answering from `head` (the file's first bytes) whatever lies inside it."""

    def read(start: int, length: int) -> tuple[bytes, int | None]:
        if start + length <= len(head):
            return head[start : start + length], size
        return read_range(start, length)

    return read


def _read_directory(path: str, size: int, read_range: RangeReader) -> Directory:
    if size == 0:  # nothing to read: an empty range is an HTTP 416
        raise Malformed("the file is empty")
    if size < _EOCD.size:
        raise _not_a_zip(path, size, read_range)
    tail_start = max(0, size - min(TAIL_READ_BYTES, max(MIN_TAIL_READ_BYTES, size // 64)))
    tail, _ = read_range(tail_start, size - tail_start)
    if len(tail) < size - tail_start:  # a server that ignored the Range header or cut the body short
        raise Unsupported(f"the server returned {len(tail):,} of the last {size - tail_start:,} bytes asked for")
    position = tail.rfind(b"PK\x05\x06", 0, max(0, len(tail) - _EOCD.size + 4))
    if position < 0:
        raise _not_a_zip(path, size, read_range, tail if tail_start == 0 else None)
    _, disk, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, position)
    end = tail_start + position  # the directory ends where the EOCD (or the ZIP64 record) starts
    locator = position - _ZIP64_LOCATOR.size
    has_locator = locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07"
    if has_locator or _U16 in (disk, count) or _U32 in (cd_size, cd_offset):  # PyTorch writes ZIP64 records always
        count, cd_size, cd_offset, end = _zip64_end(tail, tail_start, locator if has_locator else -1)
    if cd_offset + cd_size != end:
        raise Malformed(
            f"its central directory ({cd_size:,} bytes at offset {cd_offset:,}) does not end where the"
            f" end-of-directory record starts (byte {end:,}): the zip is corrupt"
        )
    if cd_size > MAX_DIRECTORY_BYTES:
        raise Malformed(f"its central directory claims {cd_size:,} bytes, more than any checkpoint needs")
    if cd_offset >= tail_start:
        raw = tail[cd_offset - tail_start : end - tail_start]
    else:
        before, _ = read_range(cd_offset, tail_start - cd_offset)
        raw = before + tail[: end - tail_start]
    return Directory(_central_entries(raw, count), cd_offset)


def _not_a_zip(path: str, size: int, read_range: RangeReader, head: bytes | None = None) -> Exception:
    if head is None:
        head, _ = read_range(0, min(size, len(LEGACY_MAGIC)))
    if head.startswith(LEGACY_MAGIC):
        return Unsupported(LEGACY_REASON.format(path=path))
    if head.startswith(b"PK\x03\x04"):
        return Malformed(
            "it starts as a zip but does not end with an end-of-central-directory record: most likely a truncated"
            " upload"
        )
    return Malformed("it is neither a torch.save zip nor a legacy PyTorch pickle")


def _zip64_end(tail: bytes, tail_start: int, locator: int) -> tuple[int, int, int, int]:
    if locator < 0:
        raise Malformed("its end-of-directory record points to ZIP64 fields but no ZIP64 locator precedes it")
    _, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator)
    start = record_offset - tail_start
    if not 0 <= start <= locator - _ZIP64_EOCD.size or tail[start : start + 4] != b"PK\x06\x06":
        raise Malformed(f"its ZIP64 locator points to byte {record_offset:,}, where no ZIP64 end record is")
    fields = _ZIP64_EOCD.unpack_from(tail, start)
    count, cd_size, cd_offset = fields[7], fields[8], fields[9]
    return count, cd_size, cd_offset, record_offset


def _central_entries(raw: bytes, count: int) -> dict[str, ZipEntry]:
    entries: dict[str, ZipEntry] = {}
    position = 0
    while position < len(raw):
        if raw[position : position + 4] != b"PK\x01\x02" or position + _CENTRAL.size > len(raw):
            raise Malformed(f"its central directory is damaged at entry {len(entries) + 1}")
        fields = _CENTRAL.unpack_from(raw, position)
        method, csize, usize, name_len, extra_len, comment_len, offset = (fields[i] for i in (4, 8, 9, 10, 11, 12, 16))
        name_start = position + _CENTRAL.size
        extra_start = name_start + name_len
        position = extra_start + extra_len + comment_len
        if position > len(raw):
            raise Malformed(f"its central directory is damaged at entry {len(entries) + 1}")
        name = raw[name_start:extra_start].decode("utf-8", "replace")
        usize, csize, offset = _zip64_sizes(raw[extra_start : extra_start + extra_len], usize, csize, offset)
        entries[name] = ZipEntry(name, method, csize, usize, offset)
    if len(entries) != count:
        raise Malformed(f"its central directory lists {len(entries)} entries where its end record says {count}")
    return entries


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Fields saturated at 0xFFFFFFFF come, in this order, from the ZIP64 extra field (APPNOTE 4.5.3)."""
    position = 0
    while position + 4 <= len(extra):
        field_id, length = struct.unpack_from("<2H", extra, position)
        body = extra[position + 4 : position + 4 + length]
        position += 4 + length
        if field_id != _ZIP64_EXTRA_ID:
            continue
        values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        wanted = [v == _U32 for v in (usize, csize, offset)]
        replaced = iter(values)
        usize, csize, offset = (
            next(replaced, v) if w else v for v, w in zip((usize, csize, offset), wanted, strict=True)
        )
    return usize, csize, offset


def _data_pickle(directory: Directory) -> tuple[str, ZipEntry]:
    candidates = [e for e in directory.entries.values() if e.name.endswith("/data.pkl") and e.name.count("/") == 1]
    if not candidates:
        if "data.pkl" in directory.entries:  # a zip, but not in torch.save's layout: don't guess
            raise Unsupported("it is a zip with a top-level data.pkl, not in torch.save's `<archive>/data.pkl` layout")
        raise Malformed("the zip holds no `<archive>/data.pkl`: it is not a torch.save checkpoint")
    entry = candidates[0]
    if entry.method != 0:
        raise Unsupported(f"its {entry.name} is compressed (method {entry.method}): torch.save stores it uncompressed")
    if entry.size > MAX_PICKLE_BYTES:
        raise Malformed(f"its {entry.name} claims {entry.size:,} bytes, more than any state dict needs")
    return entry.name.rsplit("/", 1)[0], entry


def _read_record(entry: ZipEntry, directory: Directory, read_range: RangeReader) -> bytes:
    """One stored record's bytes: its local header (whose extra field may differ from the directory's) and data."""
    room = directory.offset - entry.header_offset  # never read into the directory (or past the file's end)
    if room < _LOCAL.size:
        raise Malformed(f"{entry.name} starts at byte {entry.header_offset:,}, past the start of the directory")
    raw, _ = read_range(entry.header_offset, min(room, _LOCAL.size + len(entry.name) + LOCAL_HEADER_SLACK + entry.size))
    if len(raw) < _LOCAL.size or raw[:4] != b"PK\x03\x04":
        raise Malformed(f"no local file header at byte {entry.header_offset:,}, where the directory puts {entry.name}")
    fields = _LOCAL.unpack_from(raw)
    start = _LOCAL.size + fields[9] + fields[10]
    if start + entry.size > len(raw):
        missing = start + entry.size - len(raw)
        if entry.header_offset + len(raw) + missing > directory.offset:
            raise Malformed(f"{entry.name} runs past the start of the central directory")
        rest, _ = read_range(entry.header_offset + len(raw), missing)
        raw += rest
    data = raw[start : start + entry.size]
    if len(data) < entry.size:
        raise Malformed(f"{entry.name} ends early ({len(data):,} of {entry.size:,} bytes)")
    return data


def _record_problems(directory: Directory, size: int) -> list[str]:
    """Records whose bytes cannot lie where the directory says: a truncated or spliced file."""
    problems = []
    for entry in directory.entries.values():
        end = entry.header_offset + _LOCAL.size + len(entry.name.encode()) + entry.compressed_size
        if end > directory.offset:
            where = "the end of the file" if entry.header_offset >= size else "the start of the central directory"
            problems.append(
                f"{entry.name} ({entry.compressed_size:,} bytes at offset {entry.header_offset:,}) runs past {where}"
                f" (byte {min(directory.offset, size):,})"
            )
    return problems


# ------------------------------------------------------------------------------------------------ the pickle


@dataclass(frozen=True)
class Global:
    """An import the pickle asks for; never resolved."""

    module: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Call:
    """What REDUCE / NEWOBJ / OBJ / INST would have called: the callable and its arguments, never invoked."""

    func: Any
    args: Any
    state: Any = None


@dataclass
class PickledDict:
    """A dict as (key, value) pairs: keys are never hashed, so a key nested a million tuples deep costs nothing."""

    pairs: list[tuple[Any, Any]] = field(default_factory=list)

    def add(self, items: list[Any]) -> None:
        if len(items) % 2:
            raise Malformed("data.pkl sets a dict item without a value")
        self.pairs.extend(zip(items[::2], items[1::2], strict=True))


@dataclass(frozen=True)
class Persistent:
    """A BINPERSID reference: in torch.save, ('storage', storage type, key, location, numel)."""

    pid: Any


@dataclass
class _Machine:
    stack: list[Any] = field(default_factory=list)
    marks: list[list[Any]] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    imports: dict[str, None] = field(default_factory=dict)  # ordered set

    def pop_mark(self) -> list[Any]:
        items = self.stack
        if not self.marks:
            raise Malformed("data.pkl pops a MARK it never set")
        self.stack = self.marks.pop()
        return items

    def pop(self) -> Any:
        if not self.stack:
            raise Malformed("data.pkl pops from an empty stack")
        return self.stack.pop()

    def import_(self, module: Any, name: Any) -> Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise Malformed("data.pkl imports a global whose name is not text")
        found = Global(module, name)
        self.imports[found.qualified] = None
        return found


_CONSTANTS = frozenset(
    [
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "FLOAT",
        "BINFLOAT",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
    ]
)
_PUSH = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}


def walk_pickle(data: bytes) -> tuple[Any, list[str]]:
    """The object a pickle describes, with inert Global/Call/Persistent placeholders, and every global it imports."""
    machine = _Machine()
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                return machine.pop(), list(machine.imports)
            _step(machine, opcode.name, arg)
    except (ValueError, EOFError, struct.error, UnicodeError, OverflowError) as exc:
        # pickletools says "expected N bytes ... but only M remain" / "no newline found" when the bytes run out
        cut = "truncated: " if any(hint in str(exc) for hint in ("remain", "no newline found")) else ""
        raise Malformed(f"data.pkl is not a valid pickle ({cut}{_first_line(exc)})") from None
    except KeyError as exc:  # a GET of a memo slot never PUT
        raise Malformed(f"data.pkl reads memo slot {exc} before writing it") from None
    raise Malformed("data.pkl ends without a STOP opcode (truncated)")


def _step(machine: _Machine, name: str, arg: Any) -> None:
    stack = machine.stack
    if name in _CONSTANTS:
        stack.append(arg)
    elif name in _PUSH:
        stack.append(_PUSH[name])
    elif name in ("PROTO", "FRAME"):
        pass
    elif name == "MARK":
        machine.marks.append(stack)
        machine.stack = []
    elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_SET"):
        stack.append(PickledDict() if name == "EMPTY_DICT" else [])
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        count = int(name[-1])
        items = tuple(machine.pop() for _ in range(count))[::-1]
        stack.append(items)
    elif name == "DICT":
        built = PickledDict()
        built.add(machine.pop_mark())
        machine.stack.append(built)
    elif name in ("TUPLE", "LIST", "FROZENSET"):
        items = machine.pop_mark()
        machine.stack.append(list(items) if name == "LIST" else tuple(items))
    elif name in ("APPEND", "APPENDS", "ADDITEMS"):
        items = [machine.pop()] if name == "APPEND" else machine.pop_mark()
        target = machine.stack[-1] if machine.stack else None
        if isinstance(target, list):
            target.extend(items)
    elif name in ("SETITEM", "SETITEMS"):
        items = list(reversed([machine.pop(), machine.pop()])) if name == "SETITEM" else machine.pop_mark()
        target = machine.stack[-1] if machine.stack else None
        if isinstance(target, PickledDict):
            target.add(items)
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        machine.memo[arg] = stack[-1] if stack else machine.pop()
    elif name == "MEMOIZE":
        machine.memo[len(machine.memo)] = stack[-1] if stack else machine.pop()
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        stack.append(machine.memo[arg])
    elif name == "GLOBAL":
        module, _, attribute = str(arg).partition(" ")
        stack.append(machine.import_(module, attribute))
    elif name == "STACK_GLOBAL":
        attribute, module = machine.pop(), machine.pop()
        machine.stack.append(machine.import_(module, attribute))
    elif name == "INST":
        module, _, attribute = str(arg).partition(" ")
        machine.stack.append(Call(machine.import_(module, attribute), tuple(machine.pop_mark())))
    elif name == "OBJ":
        items = machine.pop_mark()
        machine.stack.append(Call(items[0] if items else None, tuple(items[1:])))
    elif name in ("EXT1", "EXT2", "EXT4"):  # copyreg's extension registry: an import by number
        stack.append(machine.import_("copyreg", f"extension_registry[{arg}]"))
    elif name in ("REDUCE", "NEWOBJ"):
        args, func = machine.pop(), machine.pop()
        stack.append(_call(func, args))
    elif name == "NEWOBJ_EX":
        kwargs, args, cls = machine.pop(), machine.pop(), machine.pop()
        stack.append(Call(cls, args, kwargs))
    elif name == "BUILD":
        state = machine.pop()
        if isinstance(stack[-1] if stack else None, Call):
            stack[-1].state = state
    elif name == "BINPERSID":
        stack.append(Persistent(machine.pop()))
    elif name == "PERSID":
        stack.append(Persistent(arg))
    elif name == "POP":
        machine.pop()
    elif name == "POP_MARK":
        machine.pop_mark()
    elif name == "DUP":
        stack.append(stack[-1] if stack else machine.pop())
    else:  # NEXT_BUFFER / READONLY_BUFFER (out-of-band buffers) and anything newer
        raise Malformed(f"data.pkl uses the opcode {name}, which torch.save never writes")


def _call(func: Any, args: Any) -> Any:
    if func == Global("collections", "OrderedDict") and args == ():
        return PickledDict()  # an empty OrderedDict that SETITEMS fills: the state dict itself
    return Call(func, args)


def _first_line(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


# ------------------------------------------------------------------------------------------------ the tensors


@dataclass(frozen=True)
class Storage:
    key: str
    dtype: str | None  # safetensors name; None when the storage type is not one torch.save writes


def tensors_of(state: Any, archive: str, directory: Directory) -> tuple[dict[str, TensorHeader], list[str]]:
    """TensorHeaders for every tensor of a flat state dict, and one line per inconsistency torch.load would hit."""
    if isinstance(state, Call) and _is_rebuild(state.func, REBUILD_TENSOR | REBUILD_PARAMETER):
        state = PickledDict([("", state)])  # torch.save(tensor): one unnamed tensor
    if not isinstance(state, PickledDict):
        return {}, [f"data.pkl holds {_describe(state)}, not a state dict of tensors"]
    tensors: dict[str, TensorHeader] = {}
    problems: list[str] = []
    for name, value in state.pairs:
        if not isinstance(name, str):
            problems.append(f"data.pkl has a state-dict key that is not text: {_describe(name)}")
            continue
        tensor, problem = _tensor(name, value, archive, directory)
        if tensor is not None:
            tensors[name] = tensor
        if problem is not None:
            problems.append(problem)
    return tensors, problems


def _tensor(name: str, value: Any, archive: str, directory: Directory) -> tuple[TensorHeader | None, str | None]:
    if isinstance(value, Call) and _is_rebuild(value.func, REBUILD_PARAMETER):
        value = value.args[0] if isinstance(value.args, tuple) and value.args else None
    if not (isinstance(value, Call) and _is_rebuild(value.func, REBUILD_TENSOR) and isinstance(value.args, tuple)):
        return None, None  # not a tensor (e.g. a nested dict or a number): torch.load would return it as is
    args = value.args
    if len(args) < 4:
        return None, f"{name}: its rebuild call has {len(args)} arguments, fewer than a tensor needs"
    storage = _storage(args[0], args[6] if value.func.name == "_rebuild_tensor_v3" and len(args) > 6 else None)
    offset, shape, stride = args[1], args[2], args[3]
    if (
        storage is None
        or not _index(offset)
        or not _indices(shape)
        or not _indices(stride)
        or len(shape) != len(stride)
    ):
        return None, f"{name}: its storage, offset, shape or stride is not what torch.save writes"
    record = directory.entries.get(f"{archive}/data/{storage.key}")
    if record is None:
        return None, f"{name}: its storage data/{storage.key} is missing from the archive"
    if storage.dtype is None:
        return None, f"{name}: its storage type is not one torch.save writes"
    header = _header(name, storage.dtype, tuple(shape), tuple(stride), offset)
    item = ITEM_BYTES.get(storage.dtype)
    if item is not None and header.data_offsets[1] > record.size:
        return header, (
            f"{name} {list(shape)} at element {offset:,} needs {header.data_offsets[1]:,} bytes of storage"
            f" data/{storage.key}, which has {record.size:,}"
        )
    return header, None


def _header(name: str, dtype: str, shape: tuple[int, ...], stride: tuple[int, ...], offset: int) -> TensorHeader:
    """data_offsets: the bytes of its storage record the tensor spans (a view may share a storage with others)."""
    item = ITEM_BYTES.get(dtype, 1)
    extent = 0 if math.prod(shape) == 0 else offset + 1 + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))
    return TensorHeader(name, dtype, shape, (offset * item, extent * item))


def _storage(value: Any, dtype_global: Any) -> Storage | None:
    pid = value.pid if isinstance(value, Persistent) else None
    if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[2], str)):
        return None
    kind = pid[1]
    if not isinstance(kind, Global):
        return None
    if kind.name == "UntypedStorage" and isinstance(dtype_global, Global) and dtype_global.module == "torch":
        dtype = TORCH_DTYPES.get(dtype_global.name)
    else:
        dtype = STORAGE_DTYPES.get(kind.name) if kind.module == "torch" else None
    return Storage(pid[2], dtype)


def _is_rebuild(func: Any, names: set[str]) -> bool:
    return isinstance(func, Global) and func.module == "torch._utils" and func.name in names


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_INDEX


def _indices(value: Any) -> bool:
    return isinstance(value, tuple) and all(_index(v) for v in value)


def _describe(value: Any) -> str:
    if isinstance(value, Call):
        func = value.func.qualified if isinstance(value.func, Global) else type(value.func).__name__
        return f"a call to {func}"
    return f"a {type(value).__name__}"
