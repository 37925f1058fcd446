"""Hostile repos: valid JSON of the wrong shape, parser bombs, absurd headers, control characters in names.

Each ends as a finding (HL304/HL305/HL402) or one line on stderr with exit 2, never a traceback, in every format.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from hublint import rules
from hublint.cli import main
from hublint.emulator.samples import CLEAN_ADAPTER, LORA_CONFIG_DEFAULTS, TINY_BASE
from hublint.emulator.server import Emulator
from hublint.render import FORMATS
from hublint.rules.peft.config import field_problems
from tests.builders import base_facts, lora_config, lora_tensors, snapshot
from tests.test_hostile_properties import strict_json, tiny_hub  # noqa: F401  (tiny_hub: a fixture)

HUB = {"url": ""}  # a real Hub without the bases: base facts are missing (HL403), not a network failure (exit 2)


@pytest.fixture(scope="module", autouse=True)
def empty_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with Emulator(tmp_path_factory.mktemp("empty-hub")) as emulator:
        HUB["url"] = emulator.url
        yield


Q_PROJ = "base_model.model.model.layers.0.self_attn.q_proj"
DEEP_JSON = '{"a":' * 100_000 + "1" + "}" * 100_000


def write_header(path: Path, header: dict | bytes, data: int = 0) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data)


def adapter_dir(tmp_path: Path, config: dict | str | None = None, header: dict | bytes | None = None) -> Path:
    """A LoRA r=8 on one q_proj (64 x 64), F32, well formed unless `config` / `header` say otherwise."""
    directory = tmp_path / "adapter"
    directory.mkdir()
    config = lora_config(base_model_name_or_path="a/b") if config is None else config
    text = config if isinstance(config, str) else json.dumps(config)
    (directory / "adapter_config.json").write_text(text, encoding="utf-8")
    if header is None:
        header = {
            f"{Q_PROJ}.lora_A.weight": {"dtype": "F32", "shape": [8, 64], "data_offsets": [0, 2048]},
            f"{Q_PROJ}.lora_B.weight": {"dtype": "F32", "shape": [64, 8], "data_offsets": [2048, 4096]},
        }
    write_header(directory / "adapter_model.safetensors", header, 4096)
    return directory


def check(capsys, target: Path | str, *extra: str) -> tuple[int, str, str]:
    code = main(["check", str(target), "--endpoint", HUB["url"], "--no-cache", *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def findings(capsys, target: Path | str, *extra: str) -> tuple[int, dict[str, dict]]:
    code, out, _ = check(capsys, target, "--format", "json", *extra)
    return code, {f["rule"]: f for f in json.loads(out)["results"][0]["findings"]}


# --- valid JSON, wrong types: PEFT fails on each (peft 0.21.2, a real from_pretrained), so HL305 says which ---

WRONG_TYPES = [
    ("r", "eight"),
    ("r", 8.0),
    ("lora_alpha", None),
    ("target_modules", 5),
    ("target_modules", [5]),
    ("modules_to_save", "lm_head"),
    ("rank_pattern", []),
    ("rank_pattern", None),
    ("rank_pattern", {"q_proj": "x"}),
    ("trainable_token_indices", "x"),
    ("task_type", []),
    ("peft_type", 5),
    ("layers_to_transform", "0"),
]


@pytest.mark.parametrize("key, value", WRONG_TYPES)
def test_wrong_type_in_adapter_config_is_hl305_in_every_format(tmp_path, capsys, key, value):
    directory = adapter_dir(tmp_path, lora_config(base_model_name_or_path="a/b", **{key: value}))
    code, found = findings(capsys, directory)
    assert code == 1
    assert "wrong type" in found["HL305"]["message"] and f"{key} is {value!r}" in found["HL305"]["message"]
    assert key in found["HL305"]["details"]["invalid_fields"]
    for fmt in FORMATS:
        code, out, err = check(capsys, directory, "--format", fmt)
        assert (code, err) == (1, "") and out


@pytest.mark.parametrize(
    "config",
    [
        {**LORA_CONFIG_DEFAULTS, "peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]},
        lora_config(target_modules="all-linear", layers_to_transform=[0, 1], trainable_token_indices={"embed": [1]}),
        lora_config(target_modules={"q_proj": 1}, modules_to_save={"lm_head": 1}, lora_alpha=16.0, use_dora="yes"),
        {"peft_type": "ADALORA", "r": 8, "lora_alpha": 32, "rank_pattern": {f"{Q_PROJ}.lora_E": [True, False]}},
        {"peft_type": "ADALORA", "r": 8, "lora_alpha": 32, "rank_pattern": None},
        {"peft_type": "IA3", "target_modules": ["k_proj"], "feedforward_modules": []},
    ],
)
def test_configs_peft_loads_have_no_field_problems(config):
    assert field_problems(config) == []


HOSTILE_VALUES = ["eight", 5, -1, 0, 2.5, 10**30, True, None, [], [None], [1, "a"], [[1]], {}, {"a": 1}, {"x": None}]


def test_every_rule_tolerates_every_wrong_type_in_every_field():
    """No rule may raise on a config of the wrong shape: it yields findings or nothing."""
    keys = set(LORA_CONFIG_DEFAULTS) | set(lora_config()) | {"token_indices", "init_r", "peft_version"}
    base = base_facts(model_id="a/b", vocab=100, hidden=64, intermediate=128, layers=2)
    tensors = lora_tensors(r=8, modules=("q_proj",), layers=1, hidden=64, intermediate=128)
    enabled = [rule() for rule in rules.ALL_RULES]
    for key in sorted(keys):
        for value in HOSTILE_VALUES:
            for peft_type in ("LORA", "ADALORA", "TRAINABLE_TOKENS"):
                config = {**lora_config(base_model_name_or_path="a/b", peft_type=peft_type), key: value}
                snap = snapshot(config, tensors, base=base, card={"base_model": value, "hublint": value})
                for rule in enabled:
                    if rule.skip_reason(snap) is None:
                        list(rule.check(snap))


def test_base_model_of_the_wrong_type_is_named_as_such(tmp_path, capsys):
    code, found = findings(capsys, adapter_dir(tmp_path, lora_config(base_model_name_or_path=123)))
    assert code == 1 and "base_model_name_or_path is not a string (123)" in found["HL402"]["message"]


# --- parser bombs: Python's json / PyYAML / tomllib raise RecursionError, which must become a reason ---


def test_deeply_nested_adapter_config_is_hl305(tmp_path, capsys):
    code, found = findings(capsys, adapter_dir(tmp_path, DEEP_JSON))
    assert code == 1 and "too deeply" in found["HL305"]["message"]


def test_deeply_nested_safetensors_header_is_hl304(tmp_path, capsys):
    code, found = findings(capsys, adapter_dir(tmp_path, header=DEEP_JSON.encode()))
    assert code == 1 and "too deeply" in found["HL304"]["message"]


def test_deeply_nested_tokenizer_files_and_card_are_tolerated(tmp_path, capsys):
    directory = adapter_dir(tmp_path)
    (directory / "tokenizer_config.json").write_text(DEEP_JSON)
    (directory / "tokenizer.json").write_text('{"added_tokens": ' + "[" * 100_000)
    (directory / "README.md").write_text("---\nbase_model: " + "[" * 100_000 + "\n---\n")
    code, out, err = check(capsys, directory)
    assert code in (0, 1) and err == "" and "HL305" not in out


def test_deeply_nested_hublint_toml_is_one_line_and_exit_2(tmp_path, capsys):
    directory = adapter_dir(tmp_path)
    (directory / ".hublint.toml").write_text("select = " + "[" * 100_000)
    code, _, err = check(capsys, directory)
    assert code == 2 and "invalid TOML: nested too deeply" in err and err.count("\n") == 1


# --- safetensors headers safetensors itself refuses ---


@pytest.mark.parametrize(
    "shape, offsets",
    [([2**64, 1], [0, 4]), ([2**63, 2**63], [0, 4]), ([8, 64], [0, 2**64]), ([10**30, 64], [0, 2048])],
)
def test_shapes_and_offsets_past_usize_are_malformed_not_tensors(tmp_path, capsys, shape, offsets):
    header = {f"{Q_PROJ}.lora_A.weight": {"dtype": "F32", "shape": shape, "data_offsets": offsets}}
    code, found = findings(capsys, adapter_dir(tmp_path, header=header))
    assert code == 1 and "not tensors" in found["HL304"]["message"]
    assert set(found) - {"HL403"} == {"HL304"}  # no rank or size verdicts on numbers safetensors never accepts


# --- control characters from the repo never reach a terminal or a CI log raw ---


def test_text_output_escapes_control_characters_from_the_repo(tmp_path, capsys):
    name = f"{Q_PROJ}\x1b]8;;http://evil\x07\n::error::forged.lora_A.weight"
    header = {name: {"dtype": "F32", "shape": [4, 64], "data_offsets": [0, 1024]}}
    config = lora_config(base_model_name_or_path="x\n::warning::forged\x1b[2J")
    code, out, _ = check(capsys, adapter_dir(tmp_path, config, header))
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out
    assert not any(line.startswith("::") for line in out.splitlines())
    assert "\\n::error::forged" in out or "\\n::warning::forged" in out


# --- a safety net for hublint's own bugs ---


def test_a_bug_in_a_rule_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    def broken(self, snapshot):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(rules.get("HL203"), "check", broken)
    monkeypatch.delenv("HUBLINT_DEBUG", raising=False)
    code, _, err = check(capsys, adapter_dir(tmp_path))
    assert code == 2
    assert err.startswith("hublint: internal error (ZeroDivisionError: division by zero)") and err.count("\n") == 1


# --- the Hub: tiny files need no range read (a range past the end is HTTP 416) ---


@pytest.mark.parametrize("content", [b"", b"abc"])
def test_tiny_safetensors_on_the_hub_is_hl304_not_an_http_error(emulator, capsys, content):
    repo = emulator.root / "hostile" / "tiny"
    shutil.copytree(emulator.root / CLEAN_ADAPTER, repo)
    (repo / "adapter_model.safetensors").write_bytes(content)
    code = main(["check", "hostile/tiny", "--endpoint", emulator.url, "--no-cache", "--format", "json"])
    captured = capsys.readouterr()
    assert (code, captured.err) == (1, "")
    [hl304] = [f for f in json.loads(captured.out)["results"][0]["findings"] if f["rule"] == "HL304"]
    assert f"the file is {len(content)} bytes" in hl304["message"]


# --- the token stays on the endpoint's origin ---


def test_token_goes_to_the_endpoint_only_and_error_pages_are_read_capped():
    import httpx2

    from hublint.hub import ERROR_BODY_LIMIT, HubClient, Retry

    seen: list[tuple[str, str | None]] = []
    served: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((str(request.url), request.headers.get("Authorization")))
        if request.url.path == "/busy" and len(seen) == 1:
            served.append(50 * ERROR_BODY_LIMIT)  # 50 error pages' worth, in 4 kB chunks
            chunks = (b"x" * 4096 for _ in range(served[0] // 4096))
            return httpx2.Response(503, headers={"Retry-After": "0"}, content=chunks)
        return httpx2.Response(200, content=b"{}")

    client = HubClient(
        "https://hub.example", "hf_secret", retry=Retry(attempts=2), transport=httpx2.MockTransport(handler)
    )
    with client:
        client.get("https://hub.example/busy", what="busy", limit=10)
        client.get("https://hub.example:443/api/models", what="listing", limit=10)
        client.get("https://evil.example/api/models?cursor=x", what="next page", limit=10)
        client.get("http://hub.example/api/models", what="downgraded", limit=10)
    assert [auth for _, auth in seen] == ["Bearer hf_secret", "Bearer hf_secret", "Bearer hf_secret", None, None]
    assert client.stats.bytes_downloaded < served[0]  # the 503 page was not read whole before the retry


# --- numbers no parser or rule may choke on (issue 10.4): each a report, strict JSON, never an internal error ---

HUGE = "9" * 5000  # past Python's 4,300-digit int-string limit
Q_PROJ_A = f'"{Q_PROJ}.lora_A.weight": {{"dtype": "F32", "shape": [8, 64], "data_offsets": [0, 2048]}}'


def raw_config(**fields: str) -> str:
    """adapter_config.json on the tiny base with raw JSON text for some values (numbers json.dumps cannot write)."""
    config = lora_config(base_model_name_or_path=TINY_BASE, target_modules=["q_proj"], r=64)
    text = json.dumps({key: f"@{key}@" if key in fields else value for key, value in {**config, **fields}.items()})
    for key, value in fields.items():
        text = text.replace(f'"@{key}@"', value)
    return text


@pytest.mark.parametrize(
    "config, header, files, rule",
    [
        (raw_config(r=HUGE), None, {}, "HL305"),
        (raw_config(lora_alpha=HUGE), None, {}, "HL305"),
        (None, ("{" + Q_PROJ_A.replace("2048]", HUGE + "]") + "}").encode(), {}, "HL304"),
        (None, ("{" + Q_PROJ_A.replace("[8, 64]", "[NaN, 64]") + "}").encode(), {}, "HL304"),
        (raw_config(target_modules="[null]"), None, {}, "HL305"),
        (raw_config(lora_alpha="1e400"), None, {}, None),
        (raw_config(lora_alpha="NaN", rank_pattern='{"q_proj": Infinity}'), None, {}, "HL305"),
        (None, None, {"tokenizer_config.json": '{"added_tokens_decoder": {"²": {"content": "x"}}}'}, None),
        (None, None, {"tokenizer_config.json": '{"added_tokens_decoder": {"' + HUGE + '": {"content": "x"}}}'}, None),
        (None, None, {"tokenizer.json": '{"added_tokens": [{"id": ' + HUGE + ', "content": "x"}]}'}, None),
        (None, None, {"README.md": "---\nbase_model: 2024-02-30\nr: " + HUGE + "\n---\n"}, None),
    ],
    ids=[
        "r-5000-digits",
        "alpha-5000-digits",
        "header-offset-5000-digits",
        "header-nan-shape",
        "target-modules-null",
        "alpha-1e400",
        "alpha-nan-pattern-infinity",
        "tokenizer-key-superscript-two",
        "tokenizer-key-5000-digits",
        "tokenizer-id-5000-digits",
        "card-impossible-date-and-huge-int",
    ],
)
def test_hostile_numbers_are_findings_in_strict_json(
    tiny_hub,  # noqa: F811
    tmp_path,
    capsys,
    config,
    header,
    files,
    rule,
):
    directory = adapter_dir(tmp_path, config if config is not None else raw_config(), header)
    for name, text in files.items():
        (directory / name).write_text(text)
    code = main(["check", str(directory), "--endpoint", tiny_hub, "--no-cache", "--format", "json"])
    captured = capsys.readouterr()
    assert code in (0, 1) and captured.err == "", captured.err
    found = {f["rule"]: f for f in strict_json(captured.out)["results"][0]["findings"]}
    assert rule is None or rule in found
    for fmt in ("sarif", "text"):
        assert main(["check", str(directory), "--endpoint", tiny_hub, "--no-cache", "--format", fmt]) == code
        captured = capsys.readouterr()
        assert captured.err == ""
        if fmt == "sarif":
            strict_json(captured.out)
