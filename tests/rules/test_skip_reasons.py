"""Every rule that cannot judge an adapter says why (issue 11.6): in the lint result, and in the JSON's `skipped`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hublint import rules
from hublint.cli import main
from hublint.emulator.samples import TINY_BASE, write_adapter
from hublint.emulator.server import Emulator
from hublint.lint import LintConfig, run_rules, selected_rules
from tests.builders import snapshot_from_spec

LLAMA = "meta-llama/Llama-2-7b-hf"
LAYER_NOTE = "its tensors follow the method's own algebra, not LoRA's rank-r factors"
PICKLE_ONLY = "the adapter ships only adapter_model.bin, a pickle, and no safetensors file"
LORA_ONLY = {"HL201", "HL203", "HL205", "HL301", "HL303", "HL501"}  # HL502 refuses other methods whole
IA3 = {
    "config_exact": {
        "peft_type": "IA3",
        "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
        "target_modules": ["k_proj"],
    },
    "lora": None,
    "tensors": {"base_model.model.model.layers.0.self_attn.k_proj.ia3_l": [4096, 1]},
}


def skipped(spec: dict) -> dict[str, str]:
    result = run_rules(snapshot_from_spec(spec), selected_rules(LintConfig()), LintConfig())
    return {s.rule: s.reason for s in result.skipped}


def test_lora_only_rules_say_they_skip_other_methods():
    reasons = skipped(IA3)
    assert set(reasons) >= LORA_ONLY
    assert all("this one is IA3" in reasons[code] for code in LORA_ONLY)


def test_an_adapter_without_readable_weights_skips_every_tensor_rule_with_the_reason():
    reasons = skipped({"weights": [], "files": ["adapter_config.json", "adapter_model.bin"]})
    tensor_rules = {r.code for r in rules.ALL_RULES if r.reads_tensors and rules.Need.WEIGHTS in r.needs}
    assert tensor_rules <= set(reasons)
    assert {reasons[code] for code in tensor_rules} == {f"needs the adapter's tensor headers: {PICKLE_ONLY}"}


@pytest.mark.parametrize("code", [r.code for r in rules.ALL_RULES])
def test_no_rule_skips_the_clean_default_adapter(code):
    config = LintConfig(select=frozenset({code}))
    snap = snapshot_from_spec(
        {"tokenizer": {"new_tokens": [32000, 0]}, "card": {"base_model": "meta-llama/Llama-2-7b-hf"}}
    )
    assert run_rules(snap, selected_rules(config), config).skipped == []


def test_the_json_carries_each_skip_with_its_reason(emulator: Emulator, tmp_path: Path, capsys):
    adapter = tmp_path / "ia3-adapter"
    tensors = {f"base_model.model.model.layers.{i}.self_attn.k_proj.ia3_l": ("F32", [64, 1]) for i in range(2)}
    config = {"peft_type": "IA3", "target_modules": ["k_proj"], "feedforward_modules": []}
    write_adapter(adapter, base=TINY_BASE, config=config, tensors=tensors, summary="An IA3 adapter.")
    code = main(["check", str(adapter), "--endpoint", emulator.url, "--format", "json", "--no-cache"])
    document = json.loads(capsys.readouterr().out)
    [result] = document["results"]
    reasons = {entry["rule"]: entry["reason"] for entry in result["skipped"]}
    assert code == 0
    assert {code: reasons.get(code) for code in ("HL203", "HL303")} == {
        "HL203": f"applies to LoRA adapters only; this one is IA3 ({LAYER_NOTE})",
        "HL303": f"applies to LoRA and AdaLoRA adapters only; this one is IA3 ({LAYER_NOTE})",
    }
    assert "HL102" not in reasons  # no tokenizer in the repo: users load the base's, nothing to judge
