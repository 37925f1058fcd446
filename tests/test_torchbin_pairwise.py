"""Pairwise: a `.bin` adapter on a `.bin` base gets the same verdicts as its safetensors twin, over HTTP against the
Hub emulator and from a local directory, from header-sized reads.

Twins are made from the peft factory's repos: every `.safetensors` becomes the `.bin` that torch.save writes for the
same state dict (transformers 4's `pytorch_model.bin` / `pytorch_model-0000k-of-0000n.bin` + index, PEFT's
`adapter_model.bin`); one adapter is re-saved by real PEFT with `safe_serialization=False`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hublint.cli import main
from hublint.emulator.server import Emulator
from tests import peft_factory as pf

pytestmark = pytest.mark.peft

TWIN = "-bin"
WIDE_BASE = "hl-bases/wide-llama"  # hidden 96: every tiny adapter (hidden 64) is on the wrong base
CASES = ["seed-resized-mts", "padded-resize", "tied-resized", "lora-on-embed", "untrained-tokens", "big-rank"]
CASES += ["clean-lora", "clean-lora-sharded-base", "wrong-base"]
PEFT_SAVED = "clean-lora"  # re-saved by PeftModel.save_pretrained(safe_serialization=False)


def bin_name(name: str) -> str:
    """transformers 4 / PEFT file names of the torch.save twin of a safetensors file."""
    if name == "adapter_model.safetensors":
        return "adapter_model.bin"
    if name == "model.safetensors.index.json":
        return "pytorch_model.bin.index.json"
    return name.replace("model", "pytorch_model", 1).replace(".safetensors", ".bin")


def make_twin(root: Path, repo_id: str, base_twin: str | None) -> str:
    import torch
    from safetensors.torch import load_file

    source, target = root / repo_id, root / (repo_id + TWIN)
    shutil.rmtree(target, ignore_errors=True)  # the factory's own twin is on the safetensors base: this one is not
    shutil.copytree(source, target)
    for file in sorted(target.iterdir()):
        if file.name.endswith(".safetensors"):
            torch.save(load_file(file), target / bin_name(file.name))
            file.unlink()
        elif file.name == "model.safetensors.index.json":
            index = json.loads(file.read_text())
            index["weight_map"] = {k: bin_name(v) for k, v in index["weight_map"].items()}
            (target / bin_name(file.name)).write_text(json.dumps(index))
            file.unlink()
    if base_twin is not None:  # the twin adapter names the twin base, in its config and its card
        retarget(target, base_twin)
    return repo_id + TWIN


def retarget(adapter: Path, base: str) -> None:
    config_path, card = adapter / "adapter_config.json", adapter / "README.md"
    config = json.loads(config_path.read_text())
    if card.is_file():
        card.write_text(
            card.read_text().replace(f"base_model: {config['base_model_name_or_path']}", f"base_model: {base}")
        )
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": base}))


def resave_with_peft(root: Path, case: str) -> None:
    """Replace the twin's adapter_model.bin with the one real PEFT writes when asked for pickle weights."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    repo_id = pf.CASES[case].repo_id
    with pf.at_hub_root(root):
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(pf.CASES[case].base), repo_id)
        out = root / "peft-saved"
        model.save_pretrained(out, safe_serialization=False)
    shutil.copy(out / "adapter_model.bin", root / (repo_id + TWIN) / "adapter_model.bin")


def build_wide_base(root: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=pf.BASE_VOCAB, hidden_size=96, intermediate_size=128, num_hidden_layers=2)
    config.num_attention_heads = config.num_key_value_heads = 4
    LlamaForCausalLM(config).save_pretrained(root / WIDE_BASE)
    adapter = root / pf.ADAPTER_OWNER / "wrong-base"
    shutil.copytree(root / pf.CASES["clean-lora"].repo_id, adapter)
    retarget(adapter, WIDE_BASE)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    pf.build_all(root)
    build_wide_base(root)
    for base in (*pf.BASES, WIDE_BASE):
        make_twin(root, base, None)
    for case in CASES:
        repo_id = f"{pf.ADAPTER_OWNER}/{case}"
        base = json.loads((root / repo_id / "adapter_config.json").read_text())["base_model_name_or_path"]
        make_twin(root, repo_id, base + TWIN)
    resave_with_peft(root, PEFT_SAVED)
    with Emulator(root) as emulator:
        yield emulator


def check(capsys: pytest.CaptureFixture[str], target: str, hub: Emulator) -> dict[str, Any]:
    main(["check", target, "--endpoint", hub.url, "--format", "json", "--no-cache"])
    [result] = json.loads(capsys.readouterr().out)["results"]
    return result


def verdicts(result: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(rule, severity, the numbers that matter) per finding; file names differ between twins by design."""
    keys = ("adapter_rows", "base_rows", "tokenizer_size", "share", "rank", "layer_dim")
    return {
        (f["rule"], f["severity"], json.dumps({k: f["details"].get(k) for k in keys}, sort_keys=True))
        for f in result["findings"]
        if f["rule"] != "HL401"  # the pickle warning is the one verdict only the .bin twin earns
    }


@pytest.mark.parametrize("case", CASES)
def test_bin_twin_gets_the_same_verdicts_over_http(hub, capsys, case):
    repo_id = f"{pf.ADAPTER_OWNER}/{case}"
    safetensors, pickle = check(capsys, repo_id, hub), check(capsys, repo_id + TWIN, hub)
    assert verdicts(pickle) == verdicts(safetensors)
    assert pickle["skipped"] == safetensors["skipped"]
    assert [f["rule"] for f in pickle["findings"] if f["rule"] == "HL401"] == ["HL401"]
    assert not any(f["rule"] in ("HL306", "HL407") for f in pickle["findings"])


def test_wrong_base_is_an_hl301_error_in_both_formats(hub, capsys):
    for repo_id in (f"{pf.ADAPTER_OWNER}/wrong-base", f"{pf.ADAPTER_OWNER}/wrong-base{TWIN}"):
        assert "HL301" in {f["rule"] for f in check(capsys, repo_id, hub)["findings"] if f["severity"] == "error"}


@pytest.mark.parametrize("case", ["seed-resized-mts", "clean-lora"])
def test_local_bin_directory_gets_the_hub_verdicts(hub, capsys, case):
    repo_id = f"{pf.ADAPTER_OWNER}/{case}{TWIN}"
    remote, local = check(capsys, repo_id, hub), check(capsys, str(hub.root / repo_id), hub)
    assert verdicts(local) == verdicts(remote) and local["source"] == "local"


def test_bin_adapter_is_linted_from_header_sized_reads(hub, capsys):
    repo_id = f"{pf.ADAPTER_OWNER}/seed-resized-mts{TWIN}"
    weights = hub.root / repo_id / "adapter_model.bin"
    result = check(capsys, repo_id, hub)
    assert {"HL101", "HL401"} <= {f["rule"] for f in result["findings"]}
    # the seed adapter saves two full [1004, 64] fp32 matrices; the lint reads its directory and data.pkl only
    assert result["stats"]["bytes_downloaded"] < weights.stat().st_size / 10, result["stats"]


def test_the_pairs_cover_the_vocab_shape_rank_and_serving_families(hub, capsys):
    found = {f["rule"] for case in CASES for f in check(capsys, f"{pf.ADAPTER_OWNER}/{case}{TWIN}", hub)["findings"]}
    assert {"HL101", "HL102", "HL103", "HL201", "HL202", "HL204", "HL301", "HL501", "HL502"} <= found


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("echo never run",)


@pytest.mark.parametrize("damage", ["truncated", "malicious"])
def test_damaged_and_malicious_bin_adapters_over_http_are_findings_not_failures(hub, capsys, damage):
    import torch

    source = hub.root / f"{pf.ADAPTER_OWNER}/clean-lora{TWIN}"
    target = hub.root / f"{pf.ADAPTER_OWNER}/clean-lora-{damage}"
    shutil.copytree(source, target)
    weights = target / "adapter_model.bin"
    if damage == "truncated":  # an interrupted upload: the zip's end, where its directory lives, is missing
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size * 3 // 5])
    else:
        torch.save({**torch.load(source / "adapter_model.bin"), "payload": Exploit()}, weights)
    code = main(["check", f"{pf.ADAPTER_OWNER}/clean-lora-{damage}", "--endpoint", hub.url, "--format", "json"])
    [result] = json.loads(capsys.readouterr().out)["results"]
    errors = {f["rule"] for f in result["findings"] if f["severity"] == "error"}
    assert code == 1 and "error" not in result
    assert errors == ({"HL306"} if damage == "truncated" else {"HL407"})
