"""Parsing the small pieces hublint reads: safetensors headers, tokenizer metadata, card front matter.

No I/O: callers hand in bytes or a `read_range` callable, so the Hub and a directory share one parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

from hublint.rules import numbers
from hublint.rules.snapshot import DTYPE_BITS, TensorHeader, WeightsFile

# huggingface_hub refuses larger headers (constants.SAFETENSORS_MAX_HEADER_LENGTH); so do we, unread.
MAX_HEADER_BYTES = 25_000_000
FIRST_READ_BYTES = 65_536  # most adapter headers fit (all-linear r=64 on 32 layers: ~55 kB); else one more read

# safetensors reads shapes and offsets as Rust `usize` and checks that bits = elements x dtype width fits one:
# bigger numbers make it refuse the whole file, so hublint treats such an entry as malformed, not as a tensor.
_USIZE = 2**64

# Python's json, PyYAML and tomllib recurse once per nesting level: a hostile file of `[[[[...` raises
# RecursionError (not their own error class), which every parser here turns into a one-line reason.
_TOO_DEEP = "too deeply to parse (hundreds of levels)"

# read_range(start, length) -> (bytes, total file size when the source reports it)
RangeReader = Callable[[int, int], tuple[bytes, "int | None"]]


def read_safetensors_header(path: str, size: int | None, read_range: RangeReader) -> WeightsFile:
    """Read and parse one header with at most two range reads; never reads tensor data."""
    if size is not None and size < 8:  # nothing to read: a range past the end of a tiny file is an HTTP 416
        return WeightsFile(path, size, error=f"the file is {size} bytes, too short for a safetensors header")
    want = FIRST_READ_BYTES if size is None else min(size, FIRST_READ_BYTES)
    head, total = read_range(0, max(want, 8))
    size = total if total is not None else size
    if len(head) < 8:
        return WeightsFile(path, size, error=f"the file is {len(head)} bytes, too short for a safetensors header")
    length = int.from_bytes(head[:8], "little")
    if length > MAX_HEADER_BYTES:
        return WeightsFile(path, size, length, error=f"the header claims {length:,} bytes, over the 25 MB limit")
    if size is not None and 8 + length > size:
        return WeightsFile(
            path, size, length, error=f"the header claims {length:,} bytes but the file has only {size:,}"
        )
    raw = head[8 : 8 + length]
    if len(raw) < length:
        rest, _ = read_range(len(head), 8 + length - len(head))
        raw += rest
    if len(raw) < length:
        return WeightsFile(path, size, length, error=f"the file ends inside its {length:,}-byte header")
    return parse_header(path, size, length, raw)


def parse_header(path: str, size: int | None, length: int, raw: bytes) -> WeightsFile:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return WeightsFile(path, size, length, error=f"the header is not valid UTF-8 (byte {exc.start})")
    try:
        document = numbers.loads(text, allow_nan=False)  # safetensors' serde_json refuses NaN and Infinity too
    except json.JSONDecodeError as exc:
        return WeightsFile(path, size, length, error=f"the header is not JSON ({exc.msg} at byte {exc.pos})")
    except RecursionError:
        return WeightsFile(path, size, length, error=f"the header nests JSON {_TOO_DEEP}")
    except ValueError as exc:
        return WeightsFile(path, size, length, error=f"the header is not JSON safetensors reads ({exc})")
    if not isinstance(document, dict):
        return WeightsFile(path, size, length, error="the header is JSON but not an object")
    if any(_lone_surrogate(text) for text in _strings(document)):
        # Python's json reads the escape "\ud800" as a lone surrogate; serde_json refuses it, so safetensors
        # refuses the whole file ("lone leading surrogate in hex escape").
        return WeightsFile(path, size, length, error="the header is not JSON safetensors reads (a lone surrogate)")
    tensors: dict[str, TensorHeader] = {}
    malformed: list[str] = []
    metadata = document.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        malformed.append("__metadata__")
        metadata = {}
    for name, entry in document.items():
        tensor = _tensor(name, entry)
        if tensor is None:
            malformed.append(name)
        else:
            tensors[name] = tensor
    return WeightsFile(path, size, length, tensors, metadata, malformed=tuple(malformed))


def _tensor(name: str, entry: Any) -> TensorHeader | None:
    if not isinstance(entry, dict):
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
        return None
    if any(not 0 <= v < _USIZE for v in (*shape, *offsets)):
        return None
    tensor = TensorHeader(name, dtype, tuple(shape), (offsets[0], offsets[1]))
    if tensor.numel * DTYPE_BITS.get(dtype, 8) >= _USIZE:  # safetensors: ValidationOverflow, it refuses the file
        return None
    return tensor


def _strings(document: Any) -> Iterator[str]:
    """Every key and string in a JSON document, without recursion (the parser accepted its depth, Python's stack
    may not)."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from value.keys()
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _lone_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text) if not text.isascii() else False


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def parse_json_object(raw: bytes, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, one-line reason): HTML error pages and truncated files become reasons."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"{what} is not UTF-8 text"
    if text.lstrip().lower().startswith(("<!doctype", "<html")):
        return None, f"{what} is an HTML page, not JSON"
    try:
        value = numbers.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{what} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return None, f"{what} nests JSON {_TOO_DEEP}"
    except ValueError as exc:  # a number too long to be one
        return None, f"{what} holds {exc}"
    if not isinstance(value, dict):
        return None, f"{what} is JSON but not an object"
    return value, None


def added_tokens_from_config(tokenizer_config: Mapping[str, Any]) -> dict[int, str]:
    """`added_tokens_decoder` of tokenizer_config.json: {"32000": {"content": "<x>", ...}}."""
    decoder = tokenizer_config.get("added_tokens_decoder")
    if not isinstance(decoder, Mapping):
        return {}
    tokens = {}
    for key, entry in decoder.items():
        token_id = numbers.parse_int(key)
        if token_id is not None and isinstance(entry, Mapping):
            tokens[token_id] = str(entry.get("content", ""))
    return tokens


def added_tokens_from_list(entries: Any) -> dict[int, str]:
    """tokenizer.json `added_tokens`: [{"id": 32000, "content": "<x>"}, ...]."""
    if not isinstance(entries, list):
        return {}
    return {
        e["id"]: str(e.get("content", ""))
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("id"), int) and not isinstance(e.get("id"), bool)
    }


def added_tokens_from_prefix(prefix: bytes) -> dict[int, str] | None:
    """The leading `added_tokens` array of a tokenizer.json from its first bytes; None when more bytes are needed.

    tokenizers writes `added_tokens` before the (multi-MB) model vocabulary, so a range read usually suffices.
    """
    text = prefix.decode("utf-8", errors="ignore")
    key = text.find('"added_tokens"')
    if key < 0:
        return None if len(text) < 4096 else {}
    start = text.find("[", key)
    if start < 0:
        return None
    try:
        entries, _ = numbers.raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    except (RecursionError, ValueError):  # too deep, or a number too long to be an id
        return {}
    return added_tokens_from_list(entries)


def model_vocab_size(tokenizer_json: Mapping[str, Any]) -> int | None:
    """Size of the tokenizer model's own vocabulary (BPE/WordPiece/WordLevel dict, Unigram list)."""
    model = tokenizer_json.get("model")
    vocab = model.get("vocab") if isinstance(model, Mapping) else None
    if isinstance(vocab, Mapping):
        ids = [v for v in vocab.values() if isinstance(v, int)]
        return max(ids) + 1 if ids else 0
    if isinstance(vocab, list):
        return len(vocab)
    return None


def front_matter(readme: str) -> tuple[dict[str, Any] | None, str | None]:
    """YAML front matter of a model card: (metadata, None), (None, None) without one, (None, reason) if broken."""
    if not readme.startswith("---"):
        return None, None
    end = readme.find("\n---", 3)
    if end < 0:
        return None, "README.md front matter has no closing ---"
    try:
        data = yaml.safe_load(readme[3:end])
    except yaml.YAMLError as exc:
        return None, f"README.md front matter is not valid YAML ({str(exc).splitlines()[0]})"
    except RecursionError:
        return None, f"README.md front matter nests YAML {_TOO_DEEP}"
    except (ValueError, OverflowError) as exc:  # PyYAML builds ints and dates with int() and date(): 10**5000, 02-30
        return None, f"README.md front matter has a value YAML cannot build ({' '.join(str(exc).split())[:120]})"
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return None, "README.md front matter is not a mapping"
    return data, None
