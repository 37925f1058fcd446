"""HL201–HL204 on snapshots: ranks against layer dims, adapter size, rsLoRA scaling, whole embedding matrices."""

from __future__ import annotations

import pytest

from hublint.rules.snapshot import RepoSnapshot
from tests.builders import (
    PREFIX,
    base_facts,
    lint,
    lora_config,
    lora_tensors,
    seed_adapter,
    snapshot,
)

EMBED = PREFIX + "model.embed_tokens.weight"
HEAD = PREFIX + "lm_head.weight"
QUANTIZED = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "quantization_config": {"bits": 4}}

# Exact numbers of the seed: r=1024 on q, k, v, o of Llama-2-7B (32 layers, 4096 wide) + two [33004, 4096] matrices.
SEED_LORA = 32 * 4 * 2 * 1024 * 4096  # 1,073,741,824
SEED_EMBEDDINGS = 2 * 33004 * 4096  # 270,368,768
LLAMA_2_7B = 6_738_415_616


def full_rank() -> RepoSnapshot:
    return snapshot(lora_config(r=4096, target_modules=["q_proj"]), lora_tensors(r=4096, modules=["q_proj"], layers=2))


def embeddings_with_small_lora(rows: int = 33004, **config: object) -> RepoSnapshot:
    tensors = {**lora_tensors(), EMBED: (rows, 4096), HEAD: (rows, 4096)}
    return snapshot(lora_config(modules_to_save=["lm_head", "embed_tokens"], **config), tensors)


# --- HL201 rank-exceeds-layer-dim -------------------------------------------------------------------------------


def test_rank_at_layer_dim_reports_the_layers_and_an_example():
    [finding] = lint(full_rank(), "HL201")
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL201", "warning", "rank")
    assert finding.details == {
        "layers": 2,
        "adapted_layers": 2,
        "example_module": "model.layers.0.self_attn.q_proj",
        "rank": 4096,
        "layer_shape": [4096, 4096],
        "min_dim": 4096,
    }
    assert "min(in, out) = 4096" in finding.message
    assert "more parameters than the layer itself" in finding.message
    assert finding.file == "adapter_model.safetensors"


def test_rank_pattern_counts_from_the_config_when_no_header_is_readable():
    config = lora_config(r=8, rank_pattern={"v_proj": 4096})
    [finding] = lint(snapshot(config, weights=[]), "HL201")
    assert finding.details["layers"] == 32  # every v_proj, none of the q_proj
    assert finding.details["adapted_layers"] == 64
    assert finding.details["example_module"].endswith("v_proj")
    assert finding.file == "adapter_config.json"


def test_a_quantized_base_is_judged_by_the_factors_outer_dims():
    snap = snapshot(
        lora_config(r=4096),
        lora_tensors(r=4096, modules=["q_proj"], layers=1),
        base=base_facts(config=QUANTIZED),
    )
    [finding] = lint(snap, "HL201")
    assert finding.details["layer_shape"] == [4096, 4096]


def test_ranks_below_the_layer_dims_pass():
    assert lint(snapshot(), "HL201") == []
    assert lint(seed_adapter(), "HL201") == []  # 1024 < 4096: huge, but still low-rank


# --- HL202 oversized-adapter ------------------------------------------------------------------------------------


def test_seed_is_a_fifth_of_the_base_in_both_conventions():
    [finding] = lint(seed_adapter(), "HL202")
    adapter = SEED_LORA + SEED_EMBEDDINGS
    assert adapter == 1_344_110_592
    assert finding.details == {
        "adapter_parameters": adapter,
        "base_parameters": LLAMA_2_7B,
        "share_of_base": round(adapter / LLAMA_2_7B, 4),
        "share_of_base_plus_adapter": round(adapter / (LLAMA_2_7B + adapter), 4),
        "max_share": 0.10,
        "lora_parameters": SEED_LORA,
        "other_parameters": SEED_EMBEDDINGS,
    }
    assert finding.details["share_of_base"] == 0.1995  # ≈ 0.2 of the base
    assert finding.details["share_of_base_plus_adapter"] == 0.1663
    assert "19.9% of the base model's 6,738,415,616" in finding.message
    assert "16.6% of base + adapter" in finding.message
    assert "print_trainable_parameters" in finding.message
    assert finding.severity.value == "warning"


def test_share_threshold_is_an_option():
    assert lint(seed_adapter(), "HL202", options={"HL202": {"max_share": 0.25}}) == []


def test_small_adapters_and_quantized_bases_pass():
    assert lint(snapshot(), "HL202") == []
    quantized = seed_adapter()
    quantized = snapshot(quantized.adapter_config, weights=quantized.weights, base=base_facts(config=QUANTIZED))
    assert lint(quantized, "HL202") == []


# --- HL203 large-rank-without-rslora ----------------------------------------------------------------------------


def test_large_rank_without_rslora_gives_both_scalings():
    [finding] = lint(snapshot(lora_config(r=128, lora_alpha=16)), "HL203")
    assert (finding.severity.value, finding.file) == ("info", "adapter_config.json")
    assert finding.details == {
        "rank": 128,
        "lora_alpha": 16,
        "scaling": 0.125,
        "rslora_scaling": round(16 / 128**0.5, 6),
        "min_rank": 64,
    }
    assert "lora_alpha/r = 16/128 = 0.125" in finding.message
    assert "arXiv:2312.03732" in finding.message
    assert "11.3× larger" in finding.message


def test_rank_pattern_counts_toward_the_rank():
    [finding] = lint(snapshot(lora_config(r=8, rank_pattern={"q_proj": 256})), "HL203")
    assert finding.details["rank"] == 256


@pytest.mark.parametrize(
    "config",
    [
        lora_config(r=128, use_rslora=True),
        lora_config(r=32),
        lora_config(peft_type="IA3", r=128),
    ],
)
def test_rslora_small_ranks_and_other_methods_pass(config):
    assert lint(snapshot(config), "HL203") == []


def test_min_rank_is_an_option():
    assert lint(snapshot(lora_config(r=128)), "HL203", options={"HL203": {"min_rank": 256}}) == []


# --- HL204 full-embeddings-inflate-checkpoint -------------------------------------------------------------------


def test_whole_embeddings_dominating_the_file_show_the_trainable_tokens_size():
    [finding] = lint(embeddings_with_small_lora(), "HL204")
    lora_bytes = 32 * 2 * 2 * 8 * 4096 * 2  # r=8 on q, v in bf16
    embedding_bytes = 2 * 33004 * 4096 * 2
    assert finding.details["adapter_bytes"] == lora_bytes + embedding_bytes
    assert finding.details["embedding_bytes"] == embedding_bytes
    assert finding.details["new_rows"] == 1004
    # One [1004, 4096] bf16 delta each for the untied embed_tokens and lm_head, plus the LoRA.
    assert finding.details["projected_bytes"] == lora_bytes + 2 * 1004 * 4096 * 2 == 24_838_144
    assert finding.details["embedding_share"] == round(embedding_bytes / (lora_bytes + embedding_bytes), 4)
    assert "98%" in finding.message
    assert "1,004 new rows it would be about 24.8 MB" in finding.message
    assert "trainable_token_indices" in finding.fix.summary


def test_tied_embeddings_need_one_delta():
    snap = embeddings_with_small_lora()
    snap = snapshot(snap.adapter_config, weights=snap.weights, base=base_facts(tied=True))
    [finding] = lint(snap, "HL204")
    assert finding.details["projected_bytes"] == 32 * 2 * 2 * 8 * 4096 * 2 + 1004 * 4096 * 2


def test_without_base_facts_the_size_without_the_matrices_is_shown():
    snap = embeddings_with_small_lora()
    snap = snapshot(snap.adapter_config, weights=snap.weights, base=base_facts(status="missing"))
    [finding] = lint(snap, "HL204")
    assert finding.details["new_rows"] is None
    assert "without them the adapter is 8.4 MB" in finding.message


def test_trainable_tokens_already_used_point_at_save_embedding_layers():
    [finding] = lint(embeddings_with_small_lora(trainable_token_indices=[32000, 32001]), "HL204")
    assert "save_embedding_layers=False" in finding.fix.summary


def test_embeddings_that_are_not_most_of_the_file_pass():
    assert lint(seed_adapter(), "HL204") == []  # the r=1024 LoRA outweighs the matrices
    assert lint(snapshot(), "HL204") == []


CASES = {
    "HL201": (full_rank, snapshot),
    "HL202": (seed_adapter, snapshot),
    "HL203": (lambda: snapshot(lora_config(r=128)), snapshot),
    "HL204": (embeddings_with_small_lora, seed_adapter),
}
