"""PyTorch `.bin` checkpoints read header-only: real `torch.save` files, hostile pickles never loaded, damaged zips.

Every file here is written by the real torch.save (or, for damage, derived from one byte by byte); the reader only
ever sees a `read_range` callable, as it does over HTTP, and counts what it asked for.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hublint import torchbin
from hublint.local import LocalRepo
from hublint.rules.snapshot import WeightsFile
from hublint.snapshots import build_snapshot
from tests.builders import lint, lora_config, snapshot

SAFETENSORS_DTYPE = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.uint16: "U16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.bool: "BOOL",
}
LEGACY = {"_use_new_zipfile_serialization": False}  # how PyTorch < 1.6 wrote every checkpoint


class RangeLog:
    """A file served by range reads, as the Hub serves it; remembers every read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def __call__(self, start: int, length: int) -> tuple[bytes, int | None]:
        # what the Hub answers with an HTTP 416 (and hublint with exit 2) must never be asked for
        assert length > 0 and 0 <= start < len(self.data), (start, length, len(self.data))
        self.reads.append((start, length))
        return self.data[start : start + length], len(self.data)

    @property
    def bytes_read(self) -> int:
        return sum(len(self.data[s : s + n]) for s, n in self.reads)


def read(data: bytes, path: str = "adapter_model.bin") -> tuple[WeightsFile, RangeLog]:
    log = RangeLog(data)
    return torchbin.read_torch_bin(path, len(data), log), log


def saved(obj: object, tmp_path: Path, name: str = "pytorch_model.bin", **kwargs: object) -> bytes:
    path = tmp_path / name
    torch.save(obj, path, **kwargs)
    return path.read_bytes()


def mixed_state_dict() -> dict[str, torch.Tensor]:
    base = torch.randn(6, 8)
    return OrderedDict(
        fp32=torch.randn(3, 4),
        fp16=torch.randn(5).half(),
        bf16=torch.randn(2, 3, 4).bfloat16(),
        int64=torch.arange(7),
        uint16=torch.zeros(3, dtype=torch.uint16),  # a "new" dtype: _rebuild_tensor_v3 + UntypedStorage
        fp8=torch.zeros(4, dtype=torch.float8_e4m3fn),
        flags=torch.ones(2, dtype=torch.bool),
        shared=base,
        rows=base[2:5],  # a view: same storage, storage offset 16
        transposed=base.t(),
        column=base[:, 3],
        param=torch.nn.Parameter(torch.ones(4, 4)),  # _rebuild_parameter around the tensor
        scalar=torch.tensor(3.0),
        empty=torch.zeros(0, 5),
    )


def test_real_torch_save_gives_every_tensor_its_dtype_shape_and_storage_span(tmp_path):
    state = mixed_state_dict()
    weights, log = read(saved(state, tmp_path))
    assert (weights.format, weights.error, weights.unsupported, weights.problems) == ("pytorch", None, None, ())
    assert list(weights.tensors) == list(state)
    for name, tensor in state.items():
        header = weights.tensors[name]
        assert header.dtype == SAFETENSORS_DTYPE[tensor.dtype], name
        assert header.shape == tuple(tensor.shape), name
        start = tensor.storage_offset() * tensor.element_size()
        assert header.data_offsets[0] == start, name
        assert header.data_offsets[1] <= tensor.untyped_storage().nbytes(), name
    assert weights.tensors["rows"].data_offsets == (2 * 8 * 4, 5 * 8 * 4)
    assert weights.tensors["transposed"].data_offsets == (0, 6 * 8 * 4)
    assert len(log.reads) == 2  # the end of the file, then data.pkl


def test_imports_are_exactly_what_the_pickle_names(tmp_path):
    weights, _ = read(saved(mixed_state_dict(), tmp_path))
    assert set(weights.imports) == {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage",
        "torch.HalfStorage",
        "torch.BFloat16Storage",
        "torch.LongStorage",
        "torch.BoolStorage",
        "torch.storage.UntypedStorage",
        "torch.uint16",
        "torch.float8_e4m3fn",
    }
    assert lint(snapshot(weights=[weights]), "HL407", "HL306") == []


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_every_pickle_protocol_torch_can_write(tmp_path, protocol):
    weights, _ = read(saved({"w": torch.randn(3, 2)}, tmp_path, pickle_protocol=protocol))
    assert weights.tensors["w"].shape == (3, 2) and weights.problems == ()


def test_legacy_format_is_a_clear_skip_not_a_guess(tmp_path):
    data = saved({"w": torch.randn(3, 2)}, tmp_path, **LEGACY)
    weights, log = read(data)
    assert weights.tensors == {} and weights.error is None
    assert "legacy PyTorch checkpoint" in weights.unsupported and "PyTorch < 1.6" in weights.unsupported
    assert log.bytes_read <= len(data)
    snap = snapshot(lora_config(), weights=[weights])
    assert lint(snap, "HL306", "HL407") == []
    from hublint.lint import LintConfig, run_rules, selected_rules

    config = LintConfig(select=frozenset({"HL303"}))
    [skipped] = run_rules(snap, selected_rules(config), config).skipped
    assert "legacy PyTorch checkpoint" in skipped.reason


class Exploit:
    """Pickles as a call to os.system; it is only ever saved, never loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_a_security_error_naming_the_global_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    data = saved({"lora_A.weight": torch.randn(2, 4), "payload": Exploit(marker)}, tmp_path, "adapter_model.bin")
    weights, _ = read(data)
    [finding] = lint(snapshot(weights=[weights]), "HL407")
    assert finding.severity.value == "error" and finding.category.value == "security"
    assert f"{os.system.__module__}.system" in finding.message
    assert finding.details["dangerous"] == [f"{os.system.__module__}.system"]
    assert weights.tensors["lora_A.weight"].shape == (2, 4)  # the tensors are still read
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name", "dangerous"),
    [("builtins", "eval", True), ("subprocess", "Popen", True), ("numpy.core.multiarray", "_reconstruct", False)],
)
def test_hand_built_globals_are_reported_by_name(tmp_path, module, name, dangerous):
    """A pickle written opcode by opcode (GLOBAL + REDUCE inside the state dict), wrapped in a real torch.save zip."""
    payload = b"\x80\x02}q\x00X\x01\x00\x00\x00xq\x01c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R"
    data = with_pickle(saved({"w": torch.randn(2)}, tmp_path), payload + b"s.")
    weights, _ = read(data)
    assert weights.error is None, weights.error
    [finding] = lint(snapshot(weights=[weights]), "HL407")
    assert finding.details == {"globals": [f"{module}.{name}"], "dangerous": [f"{module}.{name}"] if dangerous else []}


def test_stack_global_and_protocol_4_imports_are_seen(tmp_path):
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return eval, ("1",)

    weights, _ = read(saved({"x": Payload()}, tmp_path, pickle_protocol=4))
    assert "builtins.eval" in weights.imports
    assert [f.rule for f in lint(snapshot(weights=[weights]), "HL407")] == ["HL407"]


# ------------------------------------------------------------------------------------------------ damage


def with_pickle(data: bytes, pickle_bytes: bytes) -> bytes:
    """The same archive with data.pkl replaced (stored, as torch.save stores it)."""
    import io

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = pickle_bytes if info.filename.endswith("/data.pkl") else source.read(info)
            target.writestr(info.filename, content)
    return out.getvalue()


def finding_message(data: bytes) -> str:
    weights, _ = read(data)
    [finding] = lint(snapshot(weights=[weights]), "HL306")
    assert finding.severity.value == "error" and finding.category.value == "integrity"
    return finding.message


@pytest.fixture
def checkpoint(tmp_path) -> bytes:
    return saved({"a": torch.randn(64, 64), "b": torch.randn(64).bfloat16()}, tmp_path)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_truncated_upload_is_an_integrity_finding(checkpoint, keep):
    assert "truncated upload" in finding_message(checkpoint[: int(len(checkpoint) * keep)])


def test_bad_end_of_directory_is_an_integrity_finding(checkpoint):
    eocd = checkpoint.rfind(b"PK\x05\x06")
    broken = checkpoint[: eocd + 16] + struct.pack("<L", 7) + checkpoint[eocd + 20 :]  # directory offset -> 7
    broken = broken.replace(b"PK\x06\x07", b"XX\x06\x07")  # and no ZIP64 locator to fall back on
    assert "corrupt" in finding_message(broken) or "ZIP64" in finding_message(broken)


def test_zip64_locator_pointing_nowhere(checkpoint):
    locator = checkpoint.rfind(b"PK\x06\x07")
    broken = checkpoint[: locator + 8] + struct.pack("<Q", 3) + checkpoint[locator + 16 :]
    assert "ZIP64 locator points to byte 3" in finding_message(broken)


def test_directory_offset_out_of_range(checkpoint):
    record = checkpoint.rfind(b"PK\x06\x06")
    offset_at = record + 48  # zip64 end record: ..., directory size (u64), directory offset (u64)
    broken = checkpoint[:offset_at] + struct.pack("<Q", 10**12) + checkpoint[offset_at + 8 :]
    assert "does not end where" in finding_message(broken)


def test_truncated_data_pkl_is_an_integrity_finding(tmp_path):
    data = saved({"a": torch.randn(3)}, tmp_path)
    pkl = zipfile.ZipFile(tmp_path / "pytorch_model.bin").read("pytorch_model/data.pkl")
    assert "truncated" in finding_message(with_pickle(data, pkl[:-20]))


def test_record_past_the_end_of_the_file(checkpoint):
    """The directory places data/0 beyond the file: the bytes it describes were never uploaded."""
    entry = checkpoint.rfind(b"pytorch_model/data/0") - 46  # its central directory entry, name after 46 bytes
    assert checkpoint[entry : entry + 4] == b"PK\x01\x02"
    broken = checkpoint[: entry + 42] + struct.pack("<L", len(checkpoint) + 5000) + checkpoint[entry + 46 :]
    assert "data/0" in finding_message(broken) and "runs past the end of the file" in finding_message(broken)


def test_storage_smaller_than_the_tensor_view(tmp_path):
    data = saved({"a": torch.randn(4, 4)}, tmp_path)
    pkl = zipfile.ZipFile(tmp_path / "pytorch_model.bin").read("pytorch_model/data.pkl")
    assert b"K\x04K\x04\x86" in pkl  # the shape (4, 4) as two BININT1 + TUPLE2
    message = finding_message(with_pickle(data, pkl.replace(b"K\x04K\x04\x86", b"K\x08K\x04\x86", 1)))
    assert "needs 128 bytes of storage data/0, which has 64" in message


def test_missing_storage_record(tmp_path):
    import io

    data = saved({"a": torch.randn(4)}, tmp_path)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if not info.filename.endswith("data/0"):
                target.writestr(info.filename, source.read(info))
    assert "storage data/0 is missing from the archive" in finding_message(out.getvalue())


def test_not_a_checkpoint_at_all():
    assert "neither a torch.save zip nor a legacy PyTorch pickle" in finding_message(b"<html>not found</html>" * 3)
    weights, log = read(b"")
    assert weights.error == "the file is empty" and log.reads == []
    deep = b"\x80\x02}" + b"K\x01\x85" + b"\x85" * 100_000 + b"K\x01s."  # a key nested 100,000 tuples deep
    state, _ = torchbin.walk_pickle(deep)  # never hashed: hashing it would recurse 100,000 C frames deep
    tensors, problems = torchbin.tensors_of(state, "archive", torchbin.Directory({}, 0))
    assert tensors == {} and problems == ["data.pkl has a state-dict key that is not text: a tuple"]


def test_a_pickle_that_is_not_a_state_dict(tmp_path):
    assert "holds a list, not a state dict" in finding_message(saved([1, 2, 3], tmp_path))


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> bytes:
    state = {"lora_A.weight": torch.randn(4, 8), "lora_B.weight": torch.randn(8, 4).half(), "step": 3}
    return saved(state, tmp_path_factory.mktemp("seed"))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_give_findings_never_exceptions(seed_file, data):
    """Bytes flipped, spliced or cut anywhere (the directory and data.pkl above all): a WeightsFile, never a crash."""
    mutated = bytearray(seed_file)
    hot = [seed_file.rfind(b"PK\x01\x02"), seed_file.find(b"\x80\x02"), len(seed_file) - 120]
    for _ in range(data.draw(st.integers(1, 8))):
        around = data.draw(st.sampled_from(hot))
        at = data.draw(st.integers(max(0, around - 200), min(len(mutated) - 1, around + 200)))
        mutated[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(mutated))))
    blob = bytes(mutated[:cut])
    weights, log = read(blob)
    assert isinstance(weights, WeightsFile) and weights.format == "pytorch"
    assert log.bytes_read <= 2 * len(blob) + torchbin.TAIL_READ_BYTES
    lint(snapshot(lora_config(), weights=[weights]))  # every rule copes with whatever was read


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400))
def test_arbitrary_pickles_inside_a_valid_zip(blob):
    walked = _walk_or_reason(blob)
    assert walked is not None


def _walk_or_reason(blob: bytes) -> object:
    try:
        return torchbin.walk_pickle(blob)
    except torchbin.Malformed as exc:
        return str(exc)


def test_walker_builds_placeholders_without_importing(tmp_path):
    blob = pickle.dumps({"x": Exploit(tmp_path / "never")}, protocol=2)
    state, imports = torchbin.walk_pickle(blob)
    [(_, call)] = state.pairs
    assert isinstance(call, torchbin.Call) and call.func.qualified == imports[0]
    assert call.args == (f"touch {tmp_path / 'never'}",)


def test_local_directory_reads_adapter_model_bin(tmp_path):
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    torch.save({"base_model.model.q.lora_A.weight": torch.randn(8, 16)}, tmp_path / "adapter_model.bin")
    from hublint.rules.model import Need

    snap = build_snapshot(LocalRepo(tmp_path), frozenset({Need.WEIGHTS}), None)
    [weights] = snap.weights
    assert weights.path == "adapter_model.bin" and weights.format == "pytorch"
    assert weights.tensors["base_model.model.q.lora_A.weight"].shape == (8, 16)


def as_zip64(data: bytes) -> bytes:
    """The same archive with every directory entry's sizes and offset in a ZIP64 extra field, as torch.save writes
    them for files over 4 GB (whose records start past 0xFFFFFFFF)."""
    import io

    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    directory_at = zipfile.ZipFile(io.BytesIO(data)).start_dir
    entries = b""
    for info in infos:
        name = info.filename.encode()
        extra = struct.pack("<2H3Q", 1, 24, info.file_size, info.compress_size, info.header_offset)
        sizes = (info.CRC, 0xFFFFFFFF, 0xFFFFFFFF)
        fixed = (b"PK\x01\x02", 45, 45, 0, 0, 0, 0, *sizes, len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
        entries += struct.pack("<4s6H3L5H2L", *fixed) + name + extra
    record_at = directory_at + len(entries)
    count = len(infos)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(entries), directory_at)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:directory_at] + entries + record + locator + end


def test_zip64_directory_fields_are_read(tmp_path):
    state = {"a": torch.randn(3, 5), "b": torch.randn(7).half()}
    plain, _ = read(saved(state, tmp_path))
    weights, _ = read(as_zip64(saved(state, tmp_path)))
    assert weights.problems == () and weights.error is None
    assert weights.tensors == plain.tensors


def llama_7b_state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Every tensor at its real shape over a one-element storage (stride 0): data.pkl and the directory are as long
    as the real 13 GB file's (give or take a byte per number), the file is tiny."""
    return {name: torch.zeros(1, dtype=torch.bfloat16).expand(*shape) for name, shape in shapes.items()}


def lora_7b_shapes(r: int = 16) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for layer in range(32):
        for proj in ("q_proj", "v_proj"):
            module = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            shapes[f"{module}.lora_A.weight"] = (r, 4096)
            shapes[f"{module}.lora_B.weight"] = (4096, r)
    return shapes


@pytest.mark.parametrize("kind", ["llama-7b base", "llama-7b lora q,v r=16"])
def test_byte_budget_is_within_twice_the_directory_and_pickle(tmp_path, kind):
    from tests.builders import llama_shapes

    if kind.endswith("base"):
        shapes = llama_shapes()
        state = llama_7b_state_dict(shapes)
    else:  # real bf16 data (16 MB), so the file has its real size too
        shapes = lora_7b_shapes()
        state = {name: torch.zeros(shape, dtype=torch.bfloat16) for name, shape in shapes.items()}
    data = saved(state, tmp_path)
    weights, log = read(data)
    archive = zipfile.ZipFile(tmp_path / "pytorch_model.bin")
    pickle_size = archive.getinfo("pytorch_model/data.pkl").file_size
    minimum = (len(data) - archive.start_dir) + pickle_size  # directory + ZIP64/EOCD records, and data.pkl
    assert {n: t.shape for n, t in weights.tensors.items()} == shapes
    assert log.bytes_read <= 2 * minimum, (log.bytes_read, minimum)
    assert len(log.reads) == (3 if kind.endswith("base") else 2)  # a 7B base's directory outgrows the first read
    print(f"{kind}: {len(shapes)} tensors, read {log.bytes_read:,} B in {len(log.reads)} reads, minimum {minimum:,} B")


def test_sizeless_listing_costs_one_tiny_read_more(tmp_path):
    data = saved({"w": torch.randn(3, 2)}, tmp_path)
    log = RangeLog(data)
    weights = torchbin.read_torch_bin("pytorch_model.bin", None, log)
    assert weights.size == len(data) and weights.tensors["w"].shape == (3, 2)
    assert log.reads == [(0, torchbin.TAIL_READ_BYTES)]  # the whole small file: no second request


def test_sizeless_listing_of_a_large_file_reads_the_pickle_from_the_head(tmp_path):
    data = saved({"w": torch.zeros(100_000)}, tmp_path)
    log = RangeLog(data)
    weights = torchbin.read_torch_bin("pytorch_model.bin", None, log)
    assert weights.tensors["w"].shape == (100_000,) and weights.problems == ()
    [head, (start, length)] = log.reads  # the head (with data.pkl in it), then the end: two requests as with a size
    assert head == (0, torchbin.TAIL_READ_BYTES) and start + length == len(data)


def test_a_server_that_cuts_the_tail_short_is_a_skip_not_a_damaged_file(tmp_path):
    data = saved({"w": torch.zeros(100_000)}, tmp_path)
    weights = torchbin.read_torch_bin("pytorch_model.bin", len(data), lambda start, length: (b"", None))
    assert weights.error is None and "server returned 0 of the last" in weights.unsupported


def test_legacy_base_checkpoint_makes_shape_rules_say_why_they_skip(tmp_path):
    from hublint.lint import LintConfig, run_rules, selected_rules
    from hublint.snapshots import build_base_facts

    (tmp_path / "config.json").write_text('{"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096}')
    torch.save({"model.embed_tokens.weight": torch.zeros(4, 4)}, tmp_path / "pytorch_model.bin", **LEGACY)
    facts = build_base_facts(LocalRepo(tmp_path), "old/base")
    assert facts.available and facts.shapes == {}
    assert "legacy PyTorch checkpoint" in facts.shapes_unavailable
    config = LintConfig(select=frozenset({"HL301"}))
    result = run_rules(snapshot(lora_config(), base=facts), selected_rules(config), config)
    assert result.findings == [] and "base model's tensor shapes" in result.skipped[0].reason


def test_sharded_bin_base_reads_every_shard_through_its_index(tmp_path):
    from hublint.snapshots import build_base_facts

    (tmp_path / "config.json").write_text('{"model_type": "llama", "vocab_size": 10, "hidden_size": 4}')
    shards = {"pytorch_model-00001-of-00002.bin": ["a.weight"], "pytorch_model-00002-of-00002.bin": ["b.weight"]}
    for shard, names in shards.items():
        torch.save({name: torch.zeros(10, 4) for name in names}, tmp_path / shard)
    weight_map = {name: shard for shard, names in shards.items() for name in names}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    facts = build_base_facts(LocalRepo(tmp_path), "sharded/base")
    assert facts.shapes == {"a.weight": (10, 4), "b.weight": (10, 4)} and facts.parameter_count == 80


def test_linting_a_bin_adapter_never_imports_torch(tmp_path):
    import subprocess
    import sys

    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "target_modules": ["q"]}')
    torch.save({"base_model.model.q.lora_A.weight": torch.randn(8, 16)}, tmp_path / "adapter_model.bin")
    program = (
        "import sys, json; from hublint.cli import main; main(['check', sys.argv[1], '--format', 'json']);"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    run = subprocess.run([sys.executable, "-c", program, str(tmp_path)], capture_output=True, text=True, check=False)
    assert "heavy import" not in run.stderr and run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)["results"]
    assert {f["rule"] for f in result["findings"]} == {"HL401", "HL402"}  # pickle weights; no base id


def test_a_compressed_data_pkl_is_not_guessed_at(tmp_path):
    import io

    data = saved({"w": torch.randn(2)}, tmp_path)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    weights, _ = read(out.getvalue())
    assert weights.tensors == {} and weights.error is None
    assert "is compressed (method 8)" in weights.unsupported


# ------------------------------------------------------------------------------------------------ over HTTP

BIN_ADAPTER = "demo-user/llama2-clean-lora-bin"


def bin_twin_of_clean_sample(hub_root: Path) -> Path:
    """The emulator's Llama-2-7B rank-16 q,v LoRA saved by torch.save (16.8 MB of real bf16 data)."""
    import shutil

    from hublint.emulator.samples import CLEAN_ADAPTER
    from hublint.parsing import read_safetensors_header

    target = hub_root / BIN_ADAPTER
    shutil.copytree(hub_root / CLEAN_ADAPTER, target)
    source = target / "adapter_model.safetensors"
    raw = source.read_bytes()
    header = read_safetensors_header(source.name, len(raw), lambda s, n: (raw[s : s + n], len(raw)))
    state = {name: torch.zeros(t.shape, dtype=torch.bfloat16) for name, t in header.tensors.items()}
    torch.save(state, target / "adapter_model.bin")
    source.unlink()
    return target / "adapter_model.bin"


def check_json(capsys: pytest.CaptureFixture[str], url: str, target: str) -> tuple[int, dict]:
    from hublint.cli import main

    code = main(["check", target, "--endpoint", url, "--format", "json", "--no-cache"])
    return code, json.loads(capsys.readouterr().out)


def test_7b_lora_bin_over_http_same_verdict_as_safetensors_from_a_header_sized_read(hub_root, emulator, capsys):
    from hublint.emulator.samples import CLEAN_ADAPTER

    weights = bin_twin_of_clean_sample(hub_root)
    _, twin = check_json(capsys, emulator.url, CLEAN_ADAPTER)
    code, document = check_json(capsys, emulator.url, BIN_ADAPTER)
    [result], [original] = document["results"], twin["results"]
    loud = {f["rule"] for f in result["findings"] if f["severity"] != "info"}
    assert code == 0 and loud == {"HL401"} and result["skipped"] == original["skipped"]
    assert {f["rule"] for f in original["findings"] if f["severity"] != "info"} == set()
    spent = result["stats"]["bytes_downloaded"] - original["stats"]["bytes_downloaded"]
    print(f"7B LoRA .bin: {weights.stat().st_size:,} B file, {spent:+,} B and", end=" ")
    print(f"{result['stats']['http_requests'] - original['stats']['http_requests']:+} requests vs its safetensors twin")
    assert spent <= 0  # directory + data.pkl (~36 kB) cost no more than the safetensors header read (64 kB)


@pytest.mark.parametrize("mode", ["wrong_content_range", "ignore_range", "truncate"])
def test_hostile_server_on_a_bin_gives_a_report_or_one_line(hub_root, hostile_emulator, capsys, mode):
    from hublint.emulator.faults import Hostile

    bin_twin_of_clean_sample(hub_root)
    emulator = hostile_emulator(Hostile("*/adapter_model.bin", mode))
    from hublint.cli import main

    code = main(["check", BIN_ADAPTER, "--endpoint", emulator.url, "--format", "json", "--no-cache"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and code in (0, 1, 2)
    [result] = json.loads(out)["results"]
    if code == 2:  # the server's fault, said in one line: not a damaged file
        assert len(result["error"].splitlines()) == 1
    assert not any(f["rule"] in ("HL306", "HL407") for f in result["findings"]), result
