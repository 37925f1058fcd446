"""End to end: adapters made by real peft, served by the Hub emulator, linted by `hublint check`, and the
loading code of every HL101 finding executed against the same server with the real libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hublint.cli import main
from hublint.emulator.server import Emulator
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
}


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
    assert result["skipped"] == []


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


@pytest.mark.parametrize("case", HL101_CASES)
def test_fix_code_loads_the_adapter(hub, capsys, tmp_path, case):
    """The program in fix.code runs as-is against the server and really loads the adapter's saved rows."""
    repo_id = pf.CASES[case].repo_id
    _, document = check_json(capsys, repo_id, "--endpoint", hub.url, "--select", "HL101")
    [finding] = document["results"][0]["findings"]
    program = tmp_path / "load.py"
    rows = finding["details"]["adapter_rows"]
    # Run the program unchanged, then prove the embedding now has the adapter's rows.
    program.write_text(finding["fix"]["code"] + f"\nassert model.get_input_embeddings().weight.shape[0] == {rows}\n")
    run = subprocess.run(
        [sys.executable, str(program)], env=runtime_env(hub, tmp_path), capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]


NAIVE_LOAD = textwrap.dedent(
    """
    import json, sys
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    outcomes = {}
    for base, adapter in json.loads(sys.argv[1]):
        model = AutoModelForCausalLM.from_pretrained(base)
        try:
            PeftModel.from_pretrained(model, adapter)
        except (RuntimeError, IndexError) as exc:
            outcomes[adapter] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        else:
            outcomes[adapter] = "loaded"
    print(json.dumps(outcomes))
    """
)


def test_naive_load_fails_exactly_where_hl101_fires(hub, tmp_path):
    """Over HTTP from the emulator, as a user would: the plain load fails for every HL101 case and no other."""
    script = tmp_path / "naive.py"
    script.write_text(NAIVE_LOAD)
    pairs = [(pf.CASES[c].base, pf.CASES[c].repo_id) for c in sorted(EXPECTED_HL1)]
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
    assert failed == {pf.CASES[c].repo_id for c in HL101_CASES}, outcomes
