"""`hublint check` against the Hub emulator: verdicts, real request/byte counts, and bad input of every kind
(malformed JSON, HTML pages, lying or hostile headers, missing and gated repos, 429/5xx) ending as a finding
or one line on stderr with exit 2, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hublint.cli import main
from hublint.emulator.faults import Faults, Hostile
from hublint.emulator.samples import CLEAN_ADAPTER, PADDED_ADAPTER, SEED_ADAPTER, write_safetensors
from hublint.emulator.server import Emulator
from hublint.hub import HubClient, HubError, Retry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_json(capsys: pytest.CaptureFixture[str], emulator: Emulator, *targets: str, extra=()) -> tuple[int, dict]:
    code, out, err = run(
        capsys, "check", *targets, "--endpoint", emulator.url, "--format", "json", "--no-cache", *extra
    )
    assert "Traceback" not in err
    return code, json.loads(out)


def copy_repo(root: Path, source: str, target: str) -> Path:
    shutil.copytree(root / source, root / target)
    return root / target


def rules_of(document: dict) -> list[str]:
    return [f["rule"] for f in document["results"][0]["findings"]]


def test_seed_case_json_contract_and_real_stats(emulator, capsys):
    emulator.reset_stats()
    code, document = check_json(capsys, emulator, SEED_ADAPTER)
    assert code == 1
    assert document["tool"] == {"name": "hublint", "version": document["tool"]["version"]}
    [result] = document["results"]
    assert set(result) >= {"target", "revision", "source", "findings", "stats"}
    hl101 = next(f for f in result["findings"] if f["rule"] == "HL101")
    assert set(hl101) == {"rule", "name", "category", "severity", "message", "file", "details", "fix"}
    assert hl101["details"]["adapter_rows"] == 33004 and hl101["details"]["base_rows"] == 32000
    assert hl101["details"]["tokenizer_size"] == 33004
    compile(hl101["fix"]["code"], "fix.py", "exec")  # a complete program, at least syntactically
    seen = emulator.stats()
    assert result["stats"] == {"http_requests": seen["total_requests"], "bytes_downloaded": seen["bytes_sent"]}
    assert {"HL202", "HL501"} <= set(rules_of(document))


def test_seed_rank_share_and_serving_warning(emulator, capsys):
    _, document = check_json(capsys, emulator, SEED_ADAPTER, extra=("--select", "HL202,HL501"))
    findings = {f["rule"]: f for f in document["results"][0]["findings"]}
    assert findings["HL501"]["severity"] == "warning"
    assert "512" in findings["HL501"]["message"]
    share = findings["HL202"]["details"]
    assert 0.19 < next(v for k, v in share.items() if "share" in k and "base" in k and isinstance(v, float)) < 0.21


def test_clean_adapter_has_no_warning_or_error(emulator, capsys):
    code, document = check_json(capsys, emulator, CLEAN_ADAPTER)
    assert code == 0
    assert [f for f in document["results"][0]["findings"] if f["severity"] != "info"] == []


def test_several_targets_share_base_facts(emulator, capsys):
    _, document = check_json(capsys, emulator, SEED_ADAPTER, CLEAN_ADAPTER)
    first, second = (r["stats"]["http_requests"] for r in document["results"])
    assert second <= 4 < first  # the second adapter on the same base reads no base file again


def test_revision_pin_and_unknown_revision(emulator, capsys):
    _, document = check_json(capsys, emulator, CLEAN_ADAPTER)
    sha = document["results"][0]["revision"]
    code, pinned = check_json(capsys, emulator, f"{CLEAN_ADAPTER}@{sha}")
    assert (code, pinned["results"][0]["revision"]) == (0, sha)
    code, _, err = run(capsys, "check", f"{CLEAN_ADAPTER}@nope", "--endpoint", emulator.url, "--no-cache")
    assert code == 2 and "revision not found" in err and err.count("\n") == 1


def test_missing_repo_is_one_line_and_exit_2(emulator, capsys):
    code, _, err = run(capsys, "check", "nobody/nothing", "--endpoint", emulator.url)
    assert code == 2
    assert err == "hublint: nobody/nothing: nobody/nothing: repository not found, or private (HTTP 401)\n"


def test_network_down_is_one_line_and_exit_2(capsys):
    code, _, err = run(capsys, "check", "a/b", "--endpoint", "http://127.0.0.1:9")
    assert code == 2 and err.startswith("hublint: a/b: 127.0.0.1:9 did not answer") and err.count("\n") == 1


def test_not_a_target_is_a_usage_error(capsys):
    code, _, err = run(capsys, "check", "not a repo")
    assert code == 2 and "neither a directory nor a Hub id" in err


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"peft_type": "LORA", "r": 8,', "not valid JSON"),
        (b"<!DOCTYPE html><html><body>Bad gateway</body></html>", "HTML page"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2, 3]", "not an object"),
    ],
)
def test_broken_adapter_config_is_a_finding(emulator, capsys, content, reason):
    repo = copy_repo(emulator.root, CLEAN_ADAPTER, "bad/config")
    (repo / "adapter_config.json").write_bytes(content)
    code, document = check_json(capsys, emulator, "bad/config")
    hl305 = [f for f in document["results"][0]["findings"] if f["rule"] == "HL305"]
    assert code == 1 and hl305 and reason in hl305[0]["message"]


def write_raw_header(path: Path, length: int, header: bytes, total_size: int) -> None:
    with path.open("wb") as handle:
        handle.write(length.to_bytes(8, "little") + header)
        handle.truncate(total_size)


@pytest.mark.parametrize(
    "length, header, size, reason",
    [
        (30_000_000, b"{}", 40_000_000, "25 MB limit"),
        (5000, b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', 100, "the file has only"),
        (6, b"\xc3\x28\xa0\xa1\xff\xfe", 64, "not valid UTF-8"),
        (2, b"{}", 4, "too short"),
    ],
)
def test_hostile_safetensors_headers_are_findings_without_reading_the_data(
    emulator, capsys, length, header, size, reason
):
    repo = copy_repo(emulator.root, CLEAN_ADAPTER, "bad/header")
    write_raw_header(repo / "adapter_model.safetensors", length, header, size)
    emulator.reset_stats()
    code, document = check_json(capsys, emulator, "bad/header", extra=("--select", "HL304"))
    [finding] = document["results"][0]["findings"]
    assert (code, finding["rule"]) == (1, "HL304") and reason in finding["message"], finding["message"]
    assert emulator.stats()["bytes_sent"] < 200_000  # never the 40 MB file or its claimed header


def test_truncated_upload_is_caught_from_the_header(emulator, capsys):
    repo = copy_repo(emulator.root, PADDED_ADAPTER, "bad/truncated")
    weights = repo / "adapter_model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(weights.stat().st_size - 1000)
    code, document = check_json(capsys, emulator, "bad/truncated", extra=("--select", "HL304"))
    assert code == 1 and rules_of(document) == ["HL304"]


def test_gated_base_is_info_and_base_rules_say_they_were_skipped(emulator, capsys):
    (emulator.root / "meta-llama-demo/Llama-2-7b-hf/.hub.json").write_text(json.dumps({"gated": "manual"}))
    code, document = check_json(capsys, emulator, CLEAN_ADAPTER)
    [result] = document["results"]
    hl403 = [f for f in result["findings"] if f["rule"] == "HL403"]
    assert hl403 and hl403[0]["severity"] == "info"
    assert "HL101" in {s["rule"] for s in result["skipped"]}
    assert code == 0


def test_missing_base_is_an_error(emulator, capsys):
    repo = copy_repo(emulator.root, CLEAN_ADAPTER, "someone/orphan")
    config = json.loads((repo / "adapter_config.json").read_text())
    (repo / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "gone/base"}))
    code, document = check_json(capsys, emulator, "someone/orphan")
    assert code == 1
    assert [f["severity"] for f in document["results"][0]["findings"] if f["rule"] == "HL403"] == ["error"]


def test_5xx_and_429_are_retried_then_reported(emulator, capsys):
    emulator.set_faults(Faults(error_rate=0.3, seed=7))
    code, document = check_json(capsys, emulator, PADDED_ADAPTER, extra=("--select", "HL101"))
    assert code == 1 and rules_of(document) == ["HL101"]
    emulator.set_faults(Faults(error_rate=1.0))
    with HubClient(emulator.url, token=False, retry=Retry(attempts=2, max_wait=1)) as client:
        with pytest.raises(HubError, match=r"HTTP 50\d from 127.0.0.1"):
            client.open_repo(CLEAN_ADAPTER)
        assert client.stats.http_requests == 2


def test_rate_limit_with_long_retry_after_is_reported_not_slept(emulator, capsys):
    emulator.set_faults(Faults(rate_limit=(1, 3600)))
    code, _, err = run(capsys, "check", CLEAN_ADAPTER, "--endpoint", emulator.url, "--no-cache")
    assert code == 2 and "rate limit is used up" in err and err.count("\n") == 1


def test_token_is_sent_only_to_its_endpoint_and_never_printed(emulator, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_alice")
    code, out, err = run(capsys, "check", "nobody/nothing", "--endpoint", emulator.url, "--token", "hf_secret_value")
    assert "hf_secret_value" not in out + err
    assert code == 2 and "refused the token" in err


def test_lfs_pointer_checkout_is_a_clear_error(tmp_path, capsys):
    directory = tmp_path / "adapter"
    directory.mkdir()
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (directory / "adapter_model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 2688439939\n"
    )
    code, _, err = run(capsys, "check", str(directory), "--endpoint", "http://127.0.0.1:9")
    assert code == 2
    assert "Git LFS pointer to a 2,688,439,939-byte file" in err and "git lfs pull" in err


@pytest.mark.parametrize("size", ["²", "9" * 50, "-1"], ids=["superscript", "50-digits", "negative"])
def test_an_lfs_pointer_with_a_garbled_size_is_still_a_clear_error(tmp_path, capsys, size):
    directory = tmp_path / "adapter"
    directory.mkdir()
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + f"\nsize {size}\n"
    (directory / "adapter_model.safetensors").write_text(pointer)
    code, _, err = run(capsys, "check", str(directory), "--endpoint", "http://127.0.0.1:9")
    assert code == 2 and err.count("\n") == 1
    assert "is a Git LFS pointer to a file, not the file itself" in err


def test_local_directory_lint_never_imports_torch(tmp_path):
    directory = tmp_path / "adapter"
    directory.mkdir()
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "target_modules": []}))
    write_safetensors(directory / "adapter_model.safetensors", {"x.lora_A.weight": ("F32", [8, 4])})
    program = (
        "import sys; from hublint.cli import main; code = main(['check', sys.argv[1], '--endpoint', 'http://127.0.0.1:9']);"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'; sys.exit(code)"
    )
    run = subprocess.run([sys.executable, "-c", program, str(directory)], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    assert "heavy import" not in run.stderr


def test_server_that_ignores_range_never_makes_us_read_the_file(tmp_path, capsys):
    """A misbehaving mirror answering 200 with the whole 2.7 GB file: we stop after the first read's bytes."""
    from hublint.emulator.samples import build_samples

    root = tmp_path / "hub"
    build_samples(root)
    with Emulator(root, faults=Faults(hostile=(Hostile("*.safetensors", "ignore_range"),))) as emulator:
        code, document = check_json(capsys, emulator, SEED_ADAPTER, extra=("--select", "HL101"))
    assert (code, rules_of(document)) == (1, ["HL101"])
    assert document["results"][0]["stats"]["bytes_downloaded"] < 5_000_000
