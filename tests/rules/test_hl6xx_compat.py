"""HL601 on snapshots: the minimum PEFT version from fields, init methods, peft_type and unknown keys."""

from __future__ import annotations

import pytest

from hublint.rules.compat.hl601_requires_newer_peft import RequiresNewerPeft
from hublint.rules.compat.versions import parse_version, requirements
from hublint.rules.snapshot import RepoSnapshot
from tests.builders import lint, lora_config, snapshot

# What PEFT 0.18+ writes for a plain LoRA: every field, most of them null or default.
MODERN_DEFAULTS = {
    "peft_version": "0.18.0",
    "eva_config": None,
    "exclude_modules": None,
    "lora_bias": False,
    "corda_config": None,
    "trainable_token_indices": None,
    "use_qalora": False,
    "qalora_group_size": 16,
    "target_parameters": None,
    "ensure_weight_tying": False,
}


def trainable_tokens() -> RepoSnapshot:
    return snapshot(lora_config(**MODERN_DEFAULTS | {"trainable_token_indices": [32000, 32001]}))


def test_a_non_default_field_sets_the_minimum():
    [finding] = lint(trainable_tokens(), "HL601")
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL601", "info", "compat")
    assert finding.file == "adapter_config.json"
    assert finding.details["minimum_version"] == "0.15.0"
    assert finding.details["requirements"][0] == {"version": "0.15.0", "reason": "trainable_token_indices is set"}
    assert finding.details["strict_before"] == "0.14.0"
    assert "needs PEFT >= 0.15.0 (trainable_token_indices is set)" in finding.message
    assert "PEFT >= 0.14.0 but < 0.15.0 drops the newer fields" in finding.message
    assert "unexpected keyword argument" in finding.message
    assert "peft>=0.15.0" in finding.fix.summary


def test_keys_of_a_newer_peft_need_0_14_whatever_their_values():
    [finding] = lint(snapshot(lora_config(**MODERN_DEFAULTS)), "HL601", options={"HL601": {"min_version": "0.14.0"}})
    assert finding.details["minimum_version"] == "0.14.0"
    assert finding.details["written_by"] == "0.18.0"
    assert "keys unknown to PEFT < 0.14.0: corda_config, ensure_weight_tying, eva_config" in finding.message
    assert "drops" not in finding.message


def test_by_default_an_adapter_using_no_newer_feature_is_not_reported():
    # Every adapter saved by PEFT >= 0.14 has keys that PEFT < 0.14 rejects; saying so to every owner is noise.
    assert lint(snapshot(lora_config(**MODERN_DEFAULTS)), "HL601") == []


def test_peft_type_and_init_method_set_the_minimum_too():
    [finding] = lint(snapshot({"peft_type": "SHIRA", "r": 32, "target_modules": ["q_proj"]}), "HL601")
    assert finding.details["minimum_version"] == "0.17.0"
    assert "KeyError" in finding.message
    [finding] = lint(snapshot(lora_config(init_lora_weights="corda")), "HL601")
    assert finding.details["minimum_version"] == "0.15.0"
    assert "Unknown initialization" in finding.message


def test_below_0_14_the_newest_key_sets_the_minimum():
    options = {"HL601": {"min_version": "0.1.0"}}
    [finding] = lint(snapshot(lora_config(target_modules="all-linear")), "HL601", options=options)
    assert finding.details["minimum_version"] == "0.9.0"  # the builder's config has a use_dora key
    assert "keys unknown to PEFT < 0.9.0: use_dora" in finding.message
    assert "PEFT < 0.9.0 raises `TypeError" in finding.message


def test_min_version_is_an_option_and_is_validated():
    assert lint(trainable_tokens(), "HL601", options={"HL601": {"min_version": "0.16.0"}}) == []
    with pytest.raises(ValueError, match="min_version"):
        RequiresNewerPeft({"min_version": "latest"})


@pytest.mark.parametrize(
    "config",
    [
        lora_config(),  # every key known since 0.9
        lora_config(use_dora=True, use_rslora=True, target_modules="all-linear"),  # 0.9.0: below the threshold
        {"peft_type": "IA3", "target_modules": ["k_proj"], "feedforward_modules": []},
    ],
)
def test_adapters_older_peft_reads_pass(config):
    assert lint(snapshot(config), "HL601") == []


def test_version_table_helpers():
    assert parse_version("0.20.1.dev0@abc123") == (0, 20, 1)
    assert parse_version("0.14") == (0, 14, 0)
    assert parse_version(None) is None
    found = requirements(lora_config(use_dora=True, target_modules="all-linear", init_lora_weights="olora"))
    assert [(r.version, r.kind) for r in found] == [
        ((0, 12, 0), "init"),
        ((0, 9, 0), "field"),  # use_dora
        ((0, 9, 0), "keys"),  # PEFT < 0.14 rejects the key use_dora even when it is false
        ((0, 8, 0), "target"),  # target_modules="all-linear"
        ((0, 3, 0), "field"),  # init_lora_weights other than True
    ]


CASES = {"HL601": (trainable_tokens, snapshot)}
