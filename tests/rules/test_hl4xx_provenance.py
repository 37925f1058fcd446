"""HL401–HL404 on snapshots: pickle-only weights, local base paths, unavailable bases, card and config disagreeing."""

from __future__ import annotations

import pytest

from hublint import rules
from hublint.lint import LintConfig, run_rules, selected_rules
from hublint.rules.model import Need
from hublint.rules.snapshot import RepoSnapshot
from tests.builders import base_facts, lint, lora_config, snapshot

SHA = "0123456789abcdef0123456789abcdef01234567"


def pickle_only() -> RepoSnapshot:
    return snapshot(weights=[], files=["adapter_config.json", "adapter_model.bin", "README.md"])


def with_base(value: object) -> RepoSnapshot:
    return snapshot(lora_config(base_model_name_or_path=value))


# --- HL401 pickle-weights ---------------------------------------------------------------------------------------


def test_pickle_only_weights_are_a_security_warning():
    [finding] = lint(pickle_only(), "HL401")
    assert (finding.severity.value, finding.category.value, finding.file) == (
        "warning",
        "security",
        "adapter_model.bin",
    )
    assert finding.details == {"pickle_files": ["adapter_model.bin"]}
    assert "arbitrary code" in finding.message
    assert "TGI" in finding.message


def test_a_safetensors_copy_makes_the_pickle_harmless():
    files = ["adapter_config.json", "adapter_model.bin", "adapter_model.safetensors"]
    assert lint(snapshot(files=files), "HL401") == []
    assert lint(snapshot(), "HL401") == []


# --- HL402 base-model-not-hub-id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "empty"),
        ("  ", "empty"),
        ("/home/user/models/tiny-llama", "an absolute path"),
        ("./outputs/base", "a relative path"),
        ("outputs/run1/checkpoint-500", "a relative path"),
        ("~/models/llama", "a path in a home directory"),
        ("C:\\models\\llama", "a Windows path"),
        ("\\\\server\\share\\llama", "a Windows path"),
        ("llama--7b", "not a valid Hub id"),
    ],
)
def test_local_paths_and_empty_values_are_not_hub_ids(value, kind):
    [finding] = lint(with_base(value), "HL402")
    assert (finding.severity.value, finding.category.value, finding.file) == (
        "error",
        "provenance",
        "adapter_config.json",
    )
    assert finding.details["kind"] == kind
    assert finding.details["base_model_name_or_path"] == value
    assert "not a Hub model id" in finding.message


def test_a_cache_snapshot_dir_maps_back_to_its_hub_id_and_revision():
    path = f"/root/.cache/huggingface/hub/models--meta-llama--Llama-2-7b-hf/snapshots/{SHA}"
    [finding] = lint(with_base(path), "HL402")
    assert finding.details["kind"] == "a Hub cache directory"
    assert finding.details["suggested_id"] == "meta-llama/Llama-2-7b-hf"
    assert finding.details["suggested_revision"] == SHA
    assert '"meta-llama/Llama-2-7b-hf"' in finding.fix.summary
    assert SHA in finding.fix.summary


def test_the_card_suggests_the_id_when_it_names_one():
    snap = snapshot(lora_config(base_model_name_or_path="/data/llama"), card={"base_model": "meta-llama/Llama-2-7b-hf"})
    [finding] = lint(snap, "HL402")
    assert finding.details["suggested_id"] == "meta-llama/Llama-2-7b-hf"


@pytest.mark.parametrize("value", ["meta-llama/Llama-2-7b-hf", "gpt2", "Qwen/Qwen2.5-0.5B-Instruct"])
def test_hub_ids_pass(value):
    assert lint(with_base(value), "HL402") == []


# --- HL403 base-model-unavailable -------------------------------------------------------------------------------


def test_a_missing_base_is_an_error_and_base_rules_are_skipped():
    snap = snapshot(base=base_facts(status="missing"))
    config = LintConfig(select=frozenset({"HL201", "HL403"}))
    result = run_rules(snap, selected_rules(config), config)
    [finding] = result.findings
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL403", "error", "provenance")
    assert finding.details["status"] == "missing"
    assert finding.details["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert "skipped" in finding.details["base_dependent_rules"]
    assert "does not exist on the Hub" in finding.message
    assert [s.rule for s in result.skipped] == ["HL201"]


def test_selecting_hl403_alone_still_has_the_base_looked_up():
    assert Need.BASE in rules.get("HL403").needs


def test_a_gated_base_is_info_with_how_to_get_access():
    [finding] = lint(snapshot(base=base_facts(status="gated")), "HL403")
    assert finding.severity.value == "info"
    assert "accept its license on https://huggingface.co/meta-llama/Llama-2-7b-hf" in finding.message
    assert "hf auth login" in finding.fix.summary and "HF_TOKEN" in finding.fix.summary


def test_a_private_base_is_info():
    [finding] = lint(snapshot(base=base_facts(status="private")), "HL403")
    assert finding.severity.value == "info"
    assert "ask the owner" in finding.message


@pytest.mark.parametrize("status", ["ok", "error", "invalid"])
def test_available_bases_and_operational_errors_pass(status):
    assert lint(snapshot(base=base_facts(status=status)), "HL403") == []


# --- HL404 card-base-model-disagrees ----------------------------------------------------------------------------


def test_card_naming_another_base_is_a_warning():
    [finding] = lint(snapshot(card={"base_model": "meta-llama/Llama-2-7b-chat-hf"}), "HL404")
    assert (finding.severity.value, finding.category.value, finding.file) == ("warning", "metadata", "README.md")
    assert finding.details == {
        "card_base_model": "meta-llama/Llama-2-7b-chat-hf",
        "config_base_model": "meta-llama/Llama-2-7b-hf",
    }
    assert "README.md says base_model: meta-llama/Llama-2-7b-chat-hf" in finding.message


def test_ids_are_compared_case_sensitively():
    [finding] = lint(snapshot(card={"base_model": "Meta-Llama/Llama-2-7b-hf"}), "HL404")
    assert finding.details["card_base_model"] == "Meta-Llama/Llama-2-7b-hf"


@pytest.mark.parametrize(
    "card",
    [
        {"base_model": "meta-llama/Llama-2-7b-hf"},
        {"base_model": ["meta-llama/Llama-2-7b-hf", "other/model"]},
        {"library_name": "peft"},
    ],
)
def test_agreeing_or_silent_cards_pass(card):
    assert lint(snapshot(card=card), "HL404") == []


CASES = {
    "HL401": (pickle_only, snapshot),
    "HL402": (lambda: with_base("/home/user/models/tiny-llama"), snapshot),
    "HL403": (lambda: snapshot(base=base_facts(status="missing")), snapshot),
    "HL404": (lambda: snapshot(card={"base_model": "meta-llama/Llama-2-7b-chat-hf"}), snapshot),
    "HL405": (lambda: snapshot(files=["adapter_config.json", "optimizer.pt"]), snapshot),
    "HL406": (
        lambda: snapshot(base=base_facts(config={"model_type": "glm", "auto_map": {"AutoModel": "m.M"}})),
        snapshot,
    ),
}
