"""HL501–HL502 on snapshots: vLLM's rank limits, and the adapter parts each server refuses or silently changes."""

from __future__ import annotations

from typing import Any

import pytest

from hublint.rules.snapshot import RepoSnapshot
from tests.builders import PREFIX, lint, lora_config, lora_tensors, seed_adapter, snapshot, tokenizer

Q_PROJ = PREFIX + "model.layers.0.self_attn.q_proj"


def effects(snap: RepoSnapshot) -> set[tuple[str, str, str]]:
    [finding] = lint(snap, "HL502")
    return {(e["server"], e["effect"], e["what"]) for e in finding.details["effects"]}


def dora_with_saved_modules() -> RepoSnapshot:
    tensors = {**lora_tensors(layers=1), f"{Q_PROJ}.lora_magnitude_vector": (4096,)}
    return snapshot(lora_config(use_dora=True, modules_to_save=["embed_tokens"]), tensors)


# --- HL501 rank-exceeds-serving-limits --------------------------------------------------------------------------


def test_seed_rank_1024_cannot_be_served_by_vllm():
    [finding] = lint(seed_adapter(), "HL501")
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL501", "warning", "serving")
    assert finding.details["max_rank"] == 1024
    assert finding.details["vllm_max_lora_rank"] is None
    assert finding.details["vllm_version"] == "0.33.0"
    assert finding.details["vllm_max_lora_rank_values"] == [1, 8, 16, 32, 64, 128, 256, 320, 512]
    assert "above 512" in finding.message
    assert "vLLM 0.33.0" in finding.message and "SGLang 0.5.23" in finding.message
    assert "LoRA rank 1024 is greater than max_lora_rank" in finding.message


@pytest.mark.parametrize(
    ("config", "flag"),
    [
        (lora_config(r=64), 64),
        (lora_config(r=100), 128),
        (lora_config(r=8, rank_pattern={"q_proj": 300}), 320),
        (lora_config(r=17), 32),
    ],
)
def test_ranks_above_16_need_the_next_allowed_flag(config, flag):
    [finding] = lint(snapshot(config), "HL501")
    assert finding.severity.value == "info"
    assert finding.details["vllm_max_lora_rank"] == flag
    assert f"--max-lora-rank {flag}" in finding.message
    assert f"--max-lora-rank {flag}" in finding.fix.summary


@pytest.mark.parametrize("config", [lora_config(r=16), lora_config(r=8), lora_config(peft_type="IA3", r=1024)])
def test_small_ranks_and_other_methods_pass(config):
    assert lint(snapshot(config), "HL501") == []


# --- HL502 unservable-adapter-parts -----------------------------------------------------------------------------


def test_dora_and_saved_modules_per_server():
    [finding] = lint(dora_with_saved_modules(), "HL502")
    assert (finding.severity.value, finding.category.value, finding.file) == (
        "warning",
        "serving",
        "adapter_config.json",
    )
    first = finding.details["effects"][0]
    assert first == {
        "server": "vLLM",
        "version": "0.33.0",
        "effect": "refuses",
        "what": "DoRA (use_dora)",
        "note": "vLLM does not yet support DoRA.",
    }
    assert effects(dora_with_saved_modules()) == {
        ("vLLM", "refuses", "DoRA (use_dora)"),
        ("SGLang", "refuses", "DoRA (use_dora)"),
        ("TGI", "ignores", "DoRA (use_dora)"),
        ("llama.cpp convert_lora_to_gguf.py", "refuses", "DoRA (use_dora)"),
        ("vLLM", "refuses", "full weights of embed_tokens (modules_to_save, saved embeddings)"),
        ("SGLang", "ignores", "full weights of embed_tokens (modules_to_save, saved embeddings)"),
        ("TGI", "ignores", "full weights of embed_tokens (modules_to_save, saved embeddings)"),
        (
            "llama.cpp convert_lora_to_gguf.py",
            "refuses",
            "full weights of embed_tokens (modules_to_save, saved embeddings)",
        ),
    }
    assert finding.message == (
        "Inference servers refuse or silently change parts of this adapter. vLLM 0.33.0, llama.cpp"
        " convert_lora_to_gguf.py @0b03adaa: refuses DoRA, full module weights; SGLang 0.5.23: refuses DoRA and"
        " ignores full module weights; TGI 3.3.7: ignores DoRA, full module weights."
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            lora_config(use_rslora=True),
            {
                ("SGLang", "mis-scales", "rsLoRA scaling (use_rslora)"),
                ("llama.cpp convert_lora_to_gguf.py", "mis-scales", "rsLoRA scaling (use_rslora)"),
            },
        ),
        (
            lora_config(alpha_pattern={"v_proj": 32}),
            {
                ("SGLang", "mis-scales", "per-module alphas (alpha_pattern)"),
                ("TGI", "mis-scales", "per-module alphas (alpha_pattern)"),
                ("llama.cpp convert_lora_to_gguf.py", "mis-scales", "per-module alphas (alpha_pattern)"),
            },
        ),
        (
            lora_config(rank_pattern={"v_proj": 4}),
            {
                ("SGLang", "mis-scales", "per-module ranks (rank_pattern)"),
                ("TGI", "mis-scales", "per-module ranks (rank_pattern)"),
            },
        ),
        (
            lora_config(target_modules=r".*\.(q_proj|v_proj)"),
            {("SGLang", "refuses", r"regex target_modules '.*\\.(q_proj|v_proj)'")},
        ),
        (lora_config(bias="all"), {("vLLM", "refuses", "bias terms (bias='all')")}),
    ],
)
def test_config_parts(config, expected):
    assert expected <= effects(snapshot(config))


def test_base_rewriting_inits_are_refused_by_vllm_and_not_redone_elsewhere():
    found = effects(snapshot(lora_config(init_lora_weights="pissa_niter_4")))
    what = "init_lora_weights='pissa_niter_4'"
    assert ("vLLM", "refuses", what) in found
    assert {("SGLang", "ignores", what), ("TGI", "ignores", what)} <= found


def test_added_tokens_from_rows_and_from_added_tokens_json():
    found = effects(seed_adapter())
    assert ("vLLM", "refuses", "1,004 embedding rows beyond the base vocabulary (added tokens)") in found
    added = tokenizer({32000: "<new>"}, files=("tokenizer.json", "added_tokens.json"))
    found = effects(snapshot(tok=added))
    assert found == {("SGLang", "refuses", "1 tokens in added_tokens.json beyond the base vocabulary")}


def test_saved_bias_tensors_and_trainable_tokens():
    tensors = {**lora_tensors(layers=1), f"{Q_PROJ}.lora_B.bias": (4096,)}
    assert ("vLLM", "refuses", "bias terms (1 saved bias tensors)") in effects(snapshot(lora_config(), tensors))
    delta = {**lora_tensors(layers=1), PREFIX + "model.embed_tokens.token_adapter.trainable_tokens_delta": (2, 4096)}
    found = effects(snapshot(lora_config(trainable_token_indices=[5, 6]), delta))
    assert ("vLLM", "refuses", "trainable token deltas (trainable_token_indices)") in found


CLEAN_CONFIGS: list[dict[str, Any]] = [
    lora_config(),
    lora_config(modules_to_save=["score"], task_type="SEQ_CLS"),
    lora_config(init_lora_weights="gaussian"),
    lora_config(target_modules="all-linear"),
    lora_config(peft_type="IA3", use_dora=True),
]


@pytest.mark.parametrize("config", CLEAN_CONFIGS)
def test_plain_lora_and_classification_heads_pass(config):
    assert lint(snapshot(config), "HL502") == []


CASES = {
    "HL501": (seed_adapter, snapshot),
    "HL502": (dora_with_saved_modules, snapshot),
}
