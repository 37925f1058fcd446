"""End to end: adapters made by real peft, served by the Hub emulator, linted by `hublint check`, and the
loading code of every HL101 finding executed against the same server with the real libraries."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hublint import rules
from hublint.cli import main
from hublint.emulator.server import Emulator
from hublint.rules.peft.layers import UNPREFIXED_TYPES
from tests import peft_factory as pf

pytestmark = pytest.mark.peft

# What the vocabulary family must say about each case, derived from what really happens on load
# (tests/test_peft_ground_truth.py proves the load behaviour).
EXPECTED_HL1 = {
    "seed-resized-mts": {"HL101"},
    "resized-mts-base-unreachable": {"HL101"},
    "padded-resize": {"HL101"},
    "auto-saved-embeddings": {"HL101"},
    "tied-resized": {"HL101"},
    "tied-resized-base-unreachable": {"HL101"},
    "lora-on-embed": {"HL101"},
    "trainable-tokens": {"HL101"},
    "trainable-tokens-no-resize": set(),
    "clean-lora": set(),
    "clean-lora-sharded-base": set(),
    "untrained-tokens": {"HL102", "HL103"},
    "dora": set(),
    "rank-pattern": set(),
    "big-rank": set(),
    "rslora-r64": set(),
    "partial-targets": set(),
    "extreme-scaling": set(),
    **{name: set() for name in pf.CASES if name.startswith("method-") or pf.CASES[name].task != "CAUSAL_LM"},
}


# Every warning and error of the whole catalogue on each case. Beyond the vocabulary family: the tiny models make
# any saved embedding a large share of the base (HL202, HL204); servers refuse saved full matrices, DoRA, ranks
# from rank_pattern and trainable tokens (HL502); r=64 is not below min(in, out)=64 of the tiny layers (HL201).
RESIZED = {"HL101", "HL202", "HL204", "HL502"}
EXPECTED_ALL = {
    "seed-resized-mts": RESIZED,
    "resized-mts-base-unreachable": RESIZED,
    "padded-resize": RESIZED,
    "auto-saved-embeddings": RESIZED,
    "tied-resized": RESIZED,
    "tied-resized-base-unreachable": RESIZED,
    "lora-on-embed": RESIZED,
    "trainable-tokens": RESIZED,
    "trainable-tokens-no-resize": {"HL502"},
    "clean-lora": set(),
    "clean-lora-sharded-base": set(),
    "untrained-tokens": {"HL102", "HL103"},
    "dora": {"HL502"},
    "rank-pattern": {"HL502"},
    "big-rank": {"HL201", "HL202"},
    "rslora-r64": {"HL201", "HL202", "HL502"},
    # Both load and run (the naive load below proves it), changed from what the config says: a misspelt target
    # adapts fewer layers (HL302's warning), alpha/r = 64 scales the update 64 times (HL205).
    "partial-targets": {"HL302"},
    "extreme-scaling": {"HL205"},
    # Every method but LoRA: no server takes it (HL502). LiLY's per-layer B is full-size and SHADOW saves a copy
    # of the backbone, a large share of the tiny base (HL202).
    **{case.name: {"HL502"} for case in pf.METHOD_CASES},
    "method-lily": {"HL202", "HL502"},
    "method-shadow": {"HL202", "HL502"},
    # Task heads and task types: clean, except a head with 3 labels on a base whose config gives 2 (HL308) and a
    # causal LM saved as SEQ_2_SEQ_LM (HL606).
    **{case.name: set() for case in pf.TASK_CASES},
    "bert-seq-cls-3-labels": {"HL308"},
    "llama-seq2seq-task": {"HL606"},
}
# The errors that mean "the usual loading code fails"; HL102 (untrained-tokens) loads and fails at inference.
LOAD_ERRORS = {"HL101", "HL308", "HL606"}
# Rules that judge LoRA factors only: on other methods they skip, saying why.
LORA_ONLY = {"HL201", "HL203", "HL205", "HL301", "HL303", "HL501"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    pf.build_all(root)
    with Emulator(root) as emulator:
        yield emulator


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["check", *argv, "--format", "json", "--no-cache"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def runtime_env(hub: Emulator, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_CACHE=str(tmp_path / "hf-cache"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TRANSFORMERS_VERBOSITY="error",
    )
    return env


def test_every_case_has_an_expectation():
    assert set(EXPECTED_HL1) == set(pf.CASES) == set(EXPECTED_ALL)


@pytest.mark.parametrize("case", sorted(EXPECTED_ALL))
def test_whole_catalogue_flags_each_case_where_it_applies_and_nowhere_else(hub, capsys, case):
    _, document = check_json(capsys, pf.CASES[case].repo_id, "--endpoint", hub.url)
    [result] = document["results"]
    assert {f["rule"] for f in result["findings"] if f["severity"] != "info"} == EXPECTED_ALL[case], result
    method = pf.CASES[case].method
    if method == "LORA":
        assert result["skipped"] == []
    else:  # AdaLoRA has rank-r factors too: only the rules about LoRA's r and serving limits skip it
        skipped = {s["rule"] for s in result["skipped"]}
        expected = LORA_ONLY - {"HL201", "HL301", "HL303"} if method == "ADALORA" else LORA_ONLY
        # Prompt learning (and adaption prompts) touch no named base module: HL302 has nothing to look up.
        assert skipped == (expected | {"HL302"} if method in UNPREFIXED_TYPES else expected)
        reasons = {s["rule"]: s["reason"] for s in result["skipped"]}
        assert all(f"this one is {method} (" in reasons[code] for code in expected)
        assert "HL302" not in reasons or reasons["HL302"].startswith(f"{method} saves no per-module tensors")


@pytest.mark.parametrize("case", sorted(EXPECTED_HL1))
def test_vocabulary_family_verdicts(hub, capsys, case):
    code, document = check_json(capsys, pf.CASES[case].repo_id, "--endpoint", hub.url, "--select", "HL1")
    [result] = document["results"]
    found = {f["rule"] for f in result["findings"] if f["severity"] in ("error", "warning")}
    assert found == EXPECTED_HL1[case], result
    assert code == (1 if any(f["severity"] == "error" for f in result["findings"]) else 0)
    assert result["source"] == "hub" and len(result["revision"]) == 40
    assert result["stats"]["http_requests"] > 0 and result["stats"]["bytes_downloaded"] > 0
    assert result["skipped"] == []


@pytest.mark.parametrize("case", ["seed-resized-mts", "padded-resize", "untrained-tokens"])
def test_local_directory_gives_the_same_verdict_as_the_hub(hub, capsys, case, tmp_path):
    _, remote = check_json(capsys, pf.CASES[case].repo_id, "--endpoint", hub.url, "--select", "HL1")
    directory = hub.root / pf.CASES[case].repo_id
    _, local = check_json(capsys, str(directory), "--endpoint", hub.url, "--select", "HL1")
    strip = lambda doc: [(f["rule"], f["details"].get("adapter_rows")) for f in doc["results"][0]["findings"]]  # noqa: E731
    assert strip(local) == strip(remote)
    assert local["results"][0]["source"] == "local"


def test_padded_resize_details_and_fix_use_header_rows(hub, capsys):
    _, document = check_json(capsys, pf.CASES["padded-resize"].repo_id, "--endpoint", hub.url, "--select", "HL101")
    [finding] = document["results"][0]["findings"]
    assert finding["details"]["adapter_rows"] == 1024
    assert finding["details"]["base_rows"] == 1000
    assert finding["details"]["tokenizer_size"] == 1010
    assert "model.resize_token_embeddings(EMBEDDING_ROWS" in finding["fix"]["code"]
    assert "EMBEDDING_ROWS = 1024" in finding["fix"]["code"]


HL101_CASES = sorted(case for case, codes in EXPECTED_HL1.items() if "HL101" in codes)
FIXABLE = [(case, "HL101") for case in HL101_CASES] + [
    ("bert-seq-cls-3-labels", "HL308"),
    ("llama-seq2seq-task", "HL606"),
]


def _proof(finding: dict) -> str:
    """What must hold after the fix code ran: the adapter's saved rows, or its labels, are really loaded."""
    if finding["rule"] == "HL101":
        return f"assert model.get_input_embeddings().weight.shape[0] == {finding['details']['adapter_rows']}"
    if finding["rule"] == "HL308":
        return f"assert model.base_model.model.config.num_labels == {finding['details']['adapter_labels']}"
    return "assert model.peft_config['default'].task_type == 'CAUSAL_LM'"


# Each program runs as-is, as its own __main__, in one interpreter: importing torch and transformers once instead of
# once per program keeps this under a minute on a busy 2-core machine.
RUN_PROGRAMS = textwrap.dedent(
    """
    import json, runpy, sys, traceback
    outcomes = {}
    for name, path in json.loads(sys.argv[1]).items():
        try:
            runpy.run_path(path, run_name="__main__")
        except BaseException:
            outcomes[name] = traceback.format_exc()[-3000:]
        else:
            outcomes[name] = "loaded"
    print(json.dumps(outcomes))
    """
)


@pytest.fixture(scope="module")
def fix_runs(hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every fixable case's fix.code, followed by the proof that it loaded what the adapter holds, run together."""
    workdir = tmp_path_factory.mktemp("fix-code")
    programs = {}
    for case, code in FIXABLE:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(["check", pf.CASES[case].repo_id, "--endpoint", hub.url, "--select", code, "--format", "json"])
        [finding] = json.loads(out.getvalue())["results"][0]["findings"]
        program = workdir / f"{case}-{code}.py"
        program.write_text(finding["fix"]["code"] + "\n" + _proof(finding) + "\n")
        programs[f"{case}-{code}"] = str(program)
    script = workdir / "run.py"
    script.write_text(RUN_PROGRAMS)
    run = subprocess.run(
        [sys.executable, str(script), json.dumps(programs)],
        env=runtime_env(hub, workdir),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("case", "code"), FIXABLE)
def test_fix_code_loads_the_adapter(fix_runs, case, code):
    """The program in fix.code runs as-is against the server and really loads the adapter."""
    assert fix_runs[f"{case}-{code}"] == "loaded"


NAIVE_LOAD = textwrap.dedent(
    """
    import json, sys
    import transformers
    from peft import PeftModel
    outcomes = {}
    for auto_class, base, adapter in json.loads(sys.argv[1]):
        try:
            model = getattr(transformers, auto_class).from_pretrained(base)
            PeftModel.from_pretrained(model, adapter)
        except (RuntimeError, IndexError, ValueError) as exc:
            outcomes[adapter] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        else:
            outcomes[adapter] = "loaded"
    print(json.dumps(outcomes))
    """
)


def test_naive_load_fails_exactly_where_a_load_error_fires(hub, tmp_path):
    """Over HTTP from the emulator, as a user would: the task's Auto class on the base, then the adapter. It fails
    for every case with a load error (HL101, HL308, HL606) and no other, whatever the method or task."""
    script = tmp_path / "naive.py"
    script.write_text(NAIVE_LOAD)
    pairs = [(pf.AUTO_CLASS[c.task], c.base, c.repo_id) for c in pf.CASES.values()]
    run = subprocess.run(
        [sys.executable, str(script), json.dumps(pairs)],
        env=runtime_env(hub, tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outcomes = json.loads(run.stdout.strip().splitlines()[-1])
    failed = {adapter for adapter, outcome in outcomes.items() if outcome != "loaded"}
    assert failed == {pf.CASES[c].repo_id for c, codes in EXPECTED_ALL.items() if codes & LOAD_ERRORS}, outcomes
    errors = {code for codes in EXPECTED_ALL.values() for code in codes if rules.get(code).severity.value == "error"}
    # HL102 strikes at inference, not at load. HL302 fires here only as its partial-match warning: a target list
    # that matches nothing (its error) fails in get_peft_model, so no such adapter can be built.
    assert errors - LOAD_ERRORS == {"HL102", "HL302"}


# `.bin` twins (adapter_model.bin from torch.save, same tensors): built when tests/peft_factory.py's SERIALIZATIONS
# holds "bin", once hublint reads .bin headers without unpickling. Each must get its safetensors twin's verdict.
BIN_TWINS = sorted(pf.CASES) if "bin" in pf.SERIALIZATIONS else []


@pytest.mark.parametrize("case", BIN_TWINS)
def test_a_bin_twin_gets_the_same_verdict_as_its_safetensors_twin(hub, capsys, case):
    verdicts = []
    for repo_id in (pf.CASES[case].repo_id, pf.CASES[case].repo_id + "-bin"):
        _, document = check_json(capsys, repo_id, "--endpoint", hub.url)
        verdicts.append({f["rule"] for f in document["results"][0]["findings"]} - {"HL401"})  # HL401: pickle
    assert verdicts[0] == verdicts[1]
