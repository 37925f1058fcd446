"""Every PEFT method and task type on snapshots, beyond the YAML cases of HL308/HL605/HL606/HL607: how the
existing rules treat task heads, unknown peft_types, other tools' configs and non-LoRA methods."""

from __future__ import annotations

from typing import Any

import pytest

from hublint.lint import LintConfig, run_rules, selected_rules
from hublint.rules.peft.methods import METHODS, foreign_format, is_frozen, owner_module
from hublint.rules.peft.tasks import base_num_labels, natural_task, supported_tasks
from hublint.rules.snapshot import RepoSnapshot
from tests.builders import PREFIX, base_facts, lint, lora_config, lora_tensors, snapshot

BERT = "google-bert/bert-base-uncased"
CAUSAL = "CAUSAL_LM"
MLX_CONFIG = {"fine_tune_type": "lora", "num_layers": 16, "lora_parameters": {"rank": 8, "scale": 20.0}}


def bert_base(**config: Any) -> Any:
    """A BERT-like base: only the encoder's tensors, as bert-base-uncased publishes them (no classifier)."""
    layers = [f"bert.encoder.layer.{i}.attention.self.{m}" for i in range(2) for m in ("query", "value")]
    shapes = {f"{layer}.weight": (768, 768) for layer in layers}
    facts = base_facts(BERT, config={"model_type": "bert", "architectures": ["BertForMaskedLM"], **config})
    return type(facts)(**{**facts.__dict__, "shapes": shapes, "parameter_count": 110_000_000})


def classifier(
    labels: int = 2, task: str = "SEQ_CLS", head: str = "classifier", base: Any = None, **config: Any
) -> RepoSnapshot:
    """A LoRA on BERT's query/value with the head PEFT saves for the task."""
    tensors = {
        f"{PREFIX}bert.encoder.layer.{i}.attention.self.{m}.lora_{f}.weight": (8, 768) if f == "A" else (768, 8)
        for i in range(2)
        for m in ("query", "value")
        for f in ("A", "B")
    }
    if head == "roberta":
        tensors |= {f"{PREFIX}classifier.dense.weight": (768, 768), f"{PREFIX}classifier.dense.bias": (768,)}
        out = f"{PREFIX}classifier.out_proj"
        tensors |= {f"{out}.weight": (labels, 768), f"{out}.bias": (labels,)}
    else:
        tensors |= {f"{PREFIX}{head}.weight": (labels, 768), f"{PREFIX}{head}.bias": (labels,)}
    heads = ["qa_outputs"] if task == "QUESTION_ANS" else ["classifier", "score"]
    cfg = lora_config(
        task_type=task, base_model_name_or_path=BERT, target_modules=["query", "value"], modules_to_save=heads
    )
    return snapshot({**cfg, **config}, tensors, base=base or bert_base())


def with_config(**overrides: Any) -> RepoSnapshot:
    return snapshot(lora_config(**overrides), lora_tensors(layers=1))


def t5_base() -> Any:
    return base_facts("google-t5/t5-small", config={"model_type": "t5", "is_encoder_decoder": True})


# --- HL308 task-head-labels-mismatch -----------------------------------------------------------------------------


def test_base_labels_follow_transformers_precedence():
    assert base_num_labels(bert_base()) == 2
    assert base_num_labels(bert_base(num_labels=7)) == 7
    assert base_num_labels(bert_base(num_labels=7, id2label={"0": "x"})) == 1


# --- task heads in the existing rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "task"),
    [("classifier", "SEQ_CLS"), ("roberta", "SEQ_CLS"), ("score", "SEQ_CLS"), ("qa_outputs", "QUESTION_ANS")],
)
def test_a_task_head_is_neither_missing_from_the_base_nor_unservable(head, task):
    snap = classifier(2, task=task, head=head)
    assert lint(snap, "HL302", "HL502") == []


def test_the_same_head_without_its_task_is_still_reported():
    snap = classifier(2, task="CAUSAL_LM")
    assert {f.rule for f in lint(snap, "HL302", "HL502")} == {"HL302", "HL502"}


# --- HL605 unknown-peft-type --------------------------------------------------------------------------------------


def test_rules_that_read_lora_factors_skip_an_unknown_type_with_the_reason():
    config = LintConfig(select=frozenset({"HL201", "HL303"}))
    result = run_rules(with_config(peft_type="lora"), selected_rules(config), config)
    assert result.findings == []
    assert {s.rule for s in result.skipped} == {"HL201", "HL303"}
    assert all("unknown to PEFT (HL605)" in s.reason for s in result.skipped)


# --- HL606 task-type-unsupported-by-base --------------------------------------------------------------------------


def test_the_natural_task_comes_from_architectures():
    llama = base_facts(config={"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    assert natural_task(llama, supported_tasks(llama)) == "CAUSAL_LM"
    assert natural_task(t5_base(), supported_tasks(t5_base())) == "SEQ_2_SEQ_LM"


# --- HL607 not-a-peft-adapter -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "tool"),
    [
        (MLX_CONFIG, "MLX-LM (mlx_lm.lora)"),
        ({"lora_layers": 16, "lora_parameters": {"rank": 8}}, "MLX-LM (mlx_lm.lora)"),
        ({"rank": 8, "alpha": 16.0, "module_path": ".*q_einsum.*"}, "a tool other than PEFT"),
    ],
)
def test_other_tools_configs_get_one_info_finding_and_nothing_else(config, tool):
    result = run_rules(snapshot(config, {}), selected_rules(LintConfig()), LintConfig())
    [finding] = result.findings
    assert (finding.rule, finding.severity.value, finding.details["tool"]) == ("HL607", "info", tool)
    assert all("not PEFT" in s.reason for s in result.skipped if s.rule != "HL305")


@pytest.mark.parametrize("config", [lora_config(), {**lora_config(), "peft_type": None}, {"r": 8, "lora_alpha": 16}])
def test_peft_configs_are_not_foreign(config):
    assert foreign_format(config) is None


# --- methods ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("peft_type", ["IA3", "LOHA", "VERA", "PROMPT_TUNING", "ADALORA"])
def test_non_lora_methods_get_a_serving_warning_and_lora_only_rules_say_why_they_skip(peft_type):
    config = LintConfig(select=frozenset({"HL203", "HL501", "HL502"}))
    result = run_rules(with_config(peft_type=peft_type, r=1024), selected_rules(config), config)
    [finding] = result.findings
    assert finding.rule == "HL502"
    assert {e["effect"] for e in finding.details["effects"]} == {"refuses"}
    assert "adapters that are not LoRA" in finding.message
    assert {s.rule for s in result.skipped} == {"HL203", "HL501"}
    assert all(f"applies to LoRA adapters only; this one is {peft_type} (" in s.reason for s in result.skipped)


def test_frozen_tensors_do_not_count_as_trained_parameters():
    vera = METHODS["VERA"]
    assert is_frozen(vera, "base_model.vera_A")
    assert not is_frozen(vera, PREFIX + "model.layers.0.self_attn.q_proj.vera_lambda_b")
    assert owner_module(vera, PREFIX + "model.layers.0.self_attn.q_proj.vera_lambda_b") == (
        PREFIX + "model.layers.0.self_attn.q_proj"
    )
    assert owner_module(METHODS["GLORA"], "m.q_proj.glora_A.Xd") == "m.q_proj"
