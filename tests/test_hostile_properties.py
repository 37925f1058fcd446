"""A hostile-input corpus, generated: Hypothesis writes adapter configs, safetensors headers, tokenizer files and card
front matter the way a stranger or a broken tool could, and hublint must stay a linter.

Two paths, each with its invariants stated in its tests' docstrings:
- the snapshot builder's parsers + every rule, in-process (fast: hundreds of examples), and
- `hublint check DIR --format json` through `hublint.cli.main`, against a real emulated Hub serving a tiny base.

Run with `--hypothesis-show-statistics` to see how many examples ran (the `settings` below fix the counts).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hublint import parsing, rules
from hublint.cli import main
from hublint.emulator.samples import TINY_BASE, build_tiny_base
from hublint.emulator.server import Emulator
from hublint.lint import LintConfig, run_rules
from hublint.render import render
from hublint.rules.snapshot import TokenizerFacts
from tests.builders import base_facts, lora_config, snapshot

PREFIX = "base_model.model.model.layers"
MODULES = ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj", "embed_tokens", "lm_head")
BIG = "__BIG_NUMBER__"  # replaced by a 5,000-digit number in the JSON text: past Python's int-string limit
SECONDS = 10.0  # per example, on a loaded two-core machine; a hang or a backtracking regex takes far longer
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- strategies ---------------------------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["²", "٣", "x\ud800", "\udfff", "a\x00b", "\x1b[2J", "\u202e", "(a+)+", "q_proj", "../x", "a/b"]),
)
hostile_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 8, 64, 1024, 2**63, 2**64, 10**39, math.nan, math.inf, -math.inf, 1e308, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)
hostile_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=8
)
CONFIG_KEYS = (
    *lora_config(),
    "trainable_token_indices",
    "token_indices",
    "init_r",
    "target_r",
    "layers_to_transform",
    "layers_pattern",
    "peft_version",
    "auto_mapping",
    "use_dora",
    "lora_bias",
)
module_names = st.one_of(st.sampled_from(["q_proj", "v_proj", "lm_head", "embed_tokens", "all-linear"]), hostile_text)
pattern_maps = st.dictionaries(
    st.one_of(module_names, st.sampled_from(["(a+)+", "(.*)*x", "[", "(?=q)q_proj"])), scalars
)


@st.composite
def adapter_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A LoRA config on the tiny base with a few fields made hostile: the rules get far enough to compute."""
    config = lora_config(base_model_name_or_path=TINY_BASE, r=draw(st.sampled_from([4, 8, 64, 1024])))
    config["peft_type"] = draw(st.sampled_from(["LORA", "LORA", "ADALORA", "TRAINABLE_TOKENS", "IA3"]) | hostile_text)
    overrides = st.dictionaries(st.sampled_from(CONFIG_KEYS) | hostile_text, hostile_values, max_size=4)
    config.update(draw(overrides))
    for key in draw(st.lists(st.sampled_from(["rank_pattern", "alpha_pattern"]), max_size=2, unique=True)):
        config[key] = draw(pattern_maps)
    if draw(st.booleans()):
        config["target_modules"] = draw(st.lists(module_names | st.none(), max_size=3) | module_names)
    return config


def tensor_name(layer: int, module: str, kind: str) -> str:
    return f"{PREFIX}.{layer}.{module}.{kind}" if "proj" in module else f"base_model.model.model.{module}.{kind}"


@st.composite
def safetensors_headers(draw: st.DrawFn) -> dict[str, Any]:
    """Plausible PEFT tensors, some entries hostile (names, dtypes, shapes past usize, odd offsets, metadata)."""
    header: dict[str, Any] = {}
    offset = 0
    for _ in range(draw(st.integers(0, 6))):
        name = draw(
            st.builds(
                tensor_name,
                st.integers(0, 3),
                st.sampled_from(MODULES) | hostile_text,
                st.sampled_from(["lora_A.weight", "lora_B.weight", "weight", "lora_embedding_A", "lora_E"]),
            )
            | hostile_text
        )
        shape = draw(st.lists(st.sampled_from([1, 4, 8, 64, 128, 320, 0]) | hostile_numbers, min_size=0, max_size=3))
        size = draw(st.integers(0, 4096))
        entry: Any = {"dtype": draw(st.sampled_from(["F32", "BF16", "F16", "I8"]) | hostile_text), "shape": shape}
        entry["data_offsets"] = draw(st.just([offset, offset + size]) | st.lists(hostile_numbers, max_size=3))
        offset += size
        header[name] = draw(st.just(entry) | hostile_values)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.just({"format": "pt"}) | hostile_values)
    return header


@st.composite
def tokenizer_files(draw: st.DrawFn) -> dict[str, Any]:
    ids = st.integers(0, 400) | hostile_numbers | hostile_text
    decoder = draw(st.dictionaries(st.integers(0, 400).map(str) | hostile_text, st.just({"content": "<x>"}) | scalars))
    added = draw(st.lists(st.fixed_dictionaries({"id": ids, "content": hostile_text}) | scalars, max_size=4))
    vocab = draw(st.dictionaries(hostile_text, ids, max_size=4) | st.lists(scalars, max_size=3) | scalars)
    return {
        "tokenizer_config.json": {"added_tokens_decoder": decoder},
        "tokenizer.json": {"added_tokens": added, "model": {"type": "BPE", "vocab": vocab}},
        "added_tokens.json": draw(st.dictionaries(hostile_text, ids, max_size=3)),
    }


YAML_PIECES = [
    "base_model: {}",
    "base_model: [{}]",
    "hublint: {}",
    "library_name: peft",
    "base_model: 2024-02-30",  # a date PyYAML resolves, then cannot build
    "r: " + "9" * 5000,
    "x: !!python/object:os.system echo",
    "a: &a [*a]",
    'base_model: "x\\ud800\\0"',
    "\tbad: indent",
    "base_model: .nan",
    "- a list",
    "---",
]


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(YAML_PIECES), max_size=4))
    values = [json.dumps(draw(hostile_text)) for _ in lines]
    body = "\n".join(line.format(value) for line, value in zip(lines, values, strict=True))
    return f"---\n{body}\n---\n# card\n"


# --- helpers ------------------------------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """JSON text as a stranger's tool may write it: NaN and Infinity as Python spells them, BIG as 5,000 digits,
    lone surrogates as escapes."""
    return json.dumps(value).replace(json.dumps(BIG), "9" * 5000)


def header_bytes(header: Any) -> bytes:
    raw = to_json(header).encode()
    return struct.pack("<Q", len(raw)) + raw


def non_finite(value: Any) -> Iterator[Any]:
    """NaN and infinities anywhere inside a finding's details."""
    if isinstance(value, float) and not math.isfinite(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from non_finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from non_finite(item)


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


# --- the snapshot builder and every rule, in-process ---------------------------------------------------------------

BASE = base_facts(model_id=TINY_BASE, vocab=320, hidden=64, intermediate=128, layers=2)
ALL_RULES = [rule() for rule in rules.ALL_RULES]


def lint_in_process(config: dict[str, Any] | None, header: bytes, tokenizer: TokenizerFacts, card: Any) -> None:
    """Invariant: parsing and every rule return (no exception), no finding's details carry NaN or an infinity, the
    JSON and SARIF reports are strict JSON, all within SECONDS."""
    started = time.monotonic()
    weights = parsing.parse_header("adapter_model.safetensors", len(header) + 4096, len(header) - 8, header[8:])
    snap = snapshot(config, weights=[weights], base=BASE, tok=tokenizer, card=card, config_error=None)
    result = run_rules(snap, ALL_RULES, LintConfig())
    for finding in result.findings:
        assert not list(non_finite(finding.details)), (finding.rule, finding.details)
    for fmt in ("json", "sarif"):
        strict_json(render([result], fmt, version="0", color=False))
    assert time.monotonic() - started < SECONDS


@FAST
@given(adapter_configs(), safetensors_headers())
def test_hostile_configs_and_headers_through_every_rule(config: dict[str, Any], header: dict[str, Any]) -> None:
    """Invariant (lint_in_process): any config PEFT's json could load, with any header, yields findings or none."""
    lint_in_process(config, header_bytes(header), TokenizerFacts(files=()), {"base_model": TINY_BASE})


@FAST
@given(st.binary(max_size=200) | safetensors_headers().map(header_bytes))
def test_hostile_header_bytes_parse_to_a_header_or_a_reason(raw: bytes) -> None:
    """Invariant: any bytes parse to tensors or to a one-line reason (HL304), and every rule copes with either."""
    raw = raw if len(raw) >= 8 else raw.ljust(8, b"\0")
    weights = parsing.parse_header("adapter_model.safetensors", None, len(raw) - 8, raw[8:])
    assert weights.error is None or "\n" not in weights.error
    lint_in_process(lora_config(base_model_name_or_path=TINY_BASE), raw, TokenizerFacts(files=()), None)


@FAST
@given(tokenizer_files())
def test_hostile_tokenizer_files_are_read_or_reported(files: dict[str, Any]) -> None:
    """Invariant: tokenizer files with any keys and ids give token ids that are non-negative ints (or none), and
    every rule copes with what was read."""
    texts = {name: to_json(value).encode() for name, value in files.items()}
    config, _ = parsing.parse_json_object(texts["tokenizer_config.json"], "tokenizer_config.json")
    document, _ = parsing.parse_json_object(texts["tokenizer.json"], "tokenizer.json")
    added = {
        **parsing.added_tokens_from_config(config or {}),
        **parsing.added_tokens_from_list((document or {}).get("added_tokens")),
    }
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in added)
    prefix = parsing.added_tokens_from_prefix(texts["tokenizer.json"])
    assert prefix is None or all(isinstance(i, int) for i in prefix)
    facts = TokenizerFacts(
        files=("tokenizer.json",), added_tokens=added, model_vocab_size=parsing.model_vocab_size(document or {})
    )
    lint_in_process(lora_config(base_model_name_or_path=TINY_BASE), header_bytes({}), facts, None)


@FAST
@given(front_matter())
def test_hostile_front_matter_is_metadata_or_one_reason(readme: str) -> None:
    """Invariant: any front matter is a mapping, nothing, or one line saying why not; rules cope with the mapping."""
    card, error = parsing.front_matter(readme)
    assert card is None or isinstance(card, dict)
    assert error is None or "\n" not in error
    lint_in_process(lora_config(base_model_name_or_path=TINY_BASE), header_bytes({}), TokenizerFacts(files=()), card)


# --- `hublint check DIR --format json`, in-process, against an emulated Hub ----------------------------------------


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hub")
    build_tiny_base(root)
    with Emulator(root) as emulator:
        yield emulator.url


def check_directory(endpoint: str, files: dict[str, bytes | str], fmt: str = "json") -> None:
    """Invariant: `hublint check DIR` exits 0 or 1 with one strict JSON document on stdout and nothing on stderr, or
    exits 2 with exactly one line on stderr that is not an internal error; never a traceback; within SECONDS."""
    with tempfile.TemporaryDirectory() as directory:
        for name, content in files.items():
            path = Path(directory) / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", directory, "--format", fmt, "--endpoint", endpoint, "--no-cache"])
        assert time.monotonic() - started < SECONDS
    stdout, stderr = out.getvalue(), err.getvalue()
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if code == 2:
        assert stderr.count("\n") == 1, stderr
        return
    assert code in (0, 1) and stderr == "", (code, stderr)
    document = strict_json(stdout)
    assert document["runs" if fmt == "sarif" else "results"]


def adapter_files(config: Any, header: Any) -> dict[str, bytes | str]:
    return {"adapter_config.json": to_json(config), "adapter_model.safetensors": header_bytes(header) + bytes(4096)}


@CLI
@given(
    adapter_configs() | hostile_values | st.just({"r": BIG, "lora_alpha": BIG, "base_model_name_or_path": TINY_BASE}),
    safetensors_headers(),
)
def test_check_directory_with_hostile_config_and_header(tiny_hub: str, config: Any, header: Any) -> None:
    """Invariant (check_directory), over hostile adapter configs and safetensors headers."""
    check_directory(tiny_hub, adapter_files(config, header))


@CLI
@given(tokenizer_files(), front_matter(), st.sampled_from(["json", "sarif"]))
def test_check_directory_with_hostile_tokenizer_and_card(
    tiny_hub: str, tokenizer: dict[str, Any], readme: str, fmt: str
) -> None:
    """Invariant (check_directory; SARIF is strict JSON as well), over tokenizer files and card front matter."""
    files = adapter_files(lora_config(base_model_name_or_path=TINY_BASE), {})
    files.update({name: to_json(value) for name, value in tokenizer.items()})
    files["README.md"] = readme
    check_directory(tiny_hub, files, fmt)
