"""HL301–HL305 on snapshots: factor dims against the base, unknown modules, ranks, safetensors integrity, files."""

from __future__ import annotations

import dataclasses

import pytest

from hublint.rules.snapshot import BaseModelFacts, RepoSnapshot, TensorHeader, WeightsFile
from tests.builders import PREFIX, base_facts, lint, lora_config, lora_tensors, snapshot, weights_file

# GPT-2 as its Hub checkpoint stores it: no `transformer.` prefix, Conv1D weights as (in, out).
GPT2_BASE = BaseModelFacts(
    model_id="openai-community/gpt2",
    config={"model_type": "gpt2", "vocab_size": 1000, "n_embd": 64},
    shapes={"wte.weight": (1000, 64), "h.0.attn.c_attn.weight": (64, 192), "h.0.attn.c_attn.bias": (192,)},
    parameter_count=1000 * 64 + 64 * 192 + 192,
)
C_ATTN = PREFIX + "transformer.h.0.attn.c_attn"
Q_PROJ = PREFIX + "model.layers.0.self_attn.q_proj"


def gpt2_adapter(lora_a: tuple[int, ...] = (4, 64), lora_b: tuple[int, ...] = (192, 4)) -> RepoSnapshot:
    config = lora_config(r=4, target_modules=["c_attn"], fan_in_fan_out=True, base_model_name_or_path="gpt2")
    tensors = {f"{C_ATTN}.lora_A.weight": lora_a, f"{C_ATTN}.lora_B.weight": lora_b}
    return snapshot(config, tensors, base=GPT2_BASE)


def trained_on_13b() -> RepoSnapshot:
    return snapshot(lora_config(), lora_tensors(hidden=5120, intermediate=13824, layers=2))


# --- HL301 adapter-base-shape-mismatch --------------------------------------------------------------------------


def test_an_adapter_for_a_wider_model_does_not_fit():
    [finding] = lint(trained_on_13b(), "HL301")
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL301", "error", "shape")
    assert finding.details["layers"] == 4  # q_proj and v_proj of 2 layers
    assert finding.details["tensors"] == 8
    assert finding.details["examples"][0] == {
        "module": "model.layers.0.self_attn.q_proj",
        "tensor": f"{Q_PROJ}.lora_A.weight",
        "file": "adapter_model.safetensors",
        "adapter_shape": [8, 5120],
        "base_shape": [4096, 4096],
        "expected": ["r", 4096],
    }
    assert finding.details["examples"][1]["expected"] == [4096, "r"]
    assert "meta-llama/Llama-2-7b-hf" in finding.message
    assert "size mismatch" in finding.message


def test_gpt2_conv1d_layers_are_transposed_and_unprefixed_in_the_checkpoint():
    assert lint(gpt2_adapter(), "HL301", "HL302") == []
    [finding] = lint(gpt2_adapter(lora_a=(4, 96)), "HL301")
    assert finding.details["examples"][0]["adapter_shape"] == [4, 96]


def test_vocabulary_axes_are_left_to_hl101():
    tensors = {
        PREFIX + "model.embed_tokens.lora_embedding_A": (8, 33004),
        PREFIX + "model.embed_tokens.lora_embedding_B": (4096, 8),
        PREFIX + "lm_head.lora_A.weight": (8, 4096),
        PREFIX + "lm_head.lora_B.weight": (33004, 8),
    }
    assert lint(snapshot(lora_config(target_modules=["embed_tokens", "lm_head"]), tensors), "HL301") == []
    tensors[PREFIX + "model.embed_tokens.lora_embedding_B"] = (5120, 8)
    [finding] = lint(snapshot(lora_config(target_modules=["embed_tokens", "lm_head"]), tensors), "HL301")
    assert finding.details["examples"][0]["expected"] == [4096, "r"]


def test_matching_adapters_and_quantized_bases_pass():
    assert lint(snapshot(), "HL301") == []
    quantized = base_facts(config={"model_type": "llama", "quantization_config": {"load_in_4bit": True}})
    wide = lora_tensors(hidden=5120, intermediate=13824, layers=2)
    assert lint(snapshot(lora_config(), wide, base=quantized), "HL301") == []


# --- HL302 target-module-not-in-base ----------------------------------------------------------------------------


def test_layers_the_base_lacks_are_reported():
    [finding] = lint(snapshot(lora_config(), lora_tensors(layers=40)), "HL302")
    assert (finding.severity.value, finding.category.value) == ("error", "shape")
    assert finding.details == {
        "modules": 16,
        "tensors": 32,
        "examples": [
            "model.layers.32.self_attn.q_proj",
            "model.layers.32.self_attn.v_proj",
            "model.layers.33.self_attn.q_proj",
            "model.layers.33.self_attn.v_proj",
            "model.layers.34.self_attn.q_proj",
        ],
    }
    assert "silently ignores" in finding.message
    assert "`model.layers.32.self_attn.q_proj`" in finding.message


def test_keys_without_the_prefix_load_nothing():
    tensors = {name.removeprefix(PREFIX): shape for name, shape in lora_tensors(layers=1).items()}
    [finding] = lint(snapshot(lora_config(), tensors), "HL302")
    assert finding.details["unprefixed"] == 4
    assert finding.details["examples"][0] == "model.layers.0.self_attn.q_proj.lora_A.weight"
    assert "`base_model.model.` prefix" in finding.message


def test_target_modules_matching_nothing_raise_at_load():
    config = lora_config(target_modules=["c_attn"])
    tensors = {f"{C_ATTN}.lora_A.weight": (8, 4096), f"{C_ATTN}.lora_B.weight": (12288, 8)}
    [finding] = lint(snapshot(config, tensors), "HL302")  # reported alone: PEFT raises before reading tensors
    assert finding.file == "adapter_config.json"
    assert finding.details == {"target_modules": ["c_attn"]}
    assert "Target modules ... not found in the base model" in finding.message


@pytest.mark.parametrize(
    ("config", "tensors"),
    [
        (lora_config(), lora_tensors()),
        # a tied base stores no lm_head, but the model has one
        (
            lora_config(modules_to_save=["lm_head"]),
            {**lora_tensors(layers=1), PREFIX + "lm_head.weight": (32000, 4096)},
        ),
        # OFT adds `oft_R` under the layer it adapts; VeRA shares `base_model.vera_A`
        (lora_config(peft_type="OFT"), {f"{Q_PROJ}.oft_R.weight": (128, 32, 32)}),
        (lora_config(peft_type="VERA"), {"base_model.vera_A": (256, 4096), f"{Q_PROJ}.vera_lambda_b": (4096,)}),
        (lora_config(peft_type="PROMPT_TUNING"), {"prompt_embeddings": (20, 4096)}),
    ],
)
def test_modules_the_base_has_pass(config, tensors):
    assert lint(snapshot(config, tensors, base=base_facts(tied=True)), "HL302") == []


# --- HL303 rank-config-tensor-mismatch --------------------------------------------------------------------------


def test_tensor_rank_other_than_r_fails_to_load():
    [finding] = lint(snapshot(lora_config(r=8), lora_tensors(r=16, layers=1)), "HL303")
    assert (finding.severity.value, finding.category.value) == ("error", "shape")
    assert finding.details["tensors"] == 4
    assert finding.details["examples"][0] == {
        "tensor": f"{Q_PROJ}.lora_A.weight",
        "tensor_rank": 16,
        "configured_rank": 8,
    }
    assert "rank 16, the config 8" in finding.message
    assert "size mismatch" in finding.message


def test_rank_pattern_sets_the_rank_per_module():
    tensors = {**lora_tensors(r=8, modules=["q_proj"], layers=1), **lora_tensors(r=2, modules=["v_proj"], layers=1)}
    assert lint(snapshot(lora_config(r=8, rank_pattern={"v_proj": 2}), tensors), "HL303") == []
    [finding] = lint(snapshot(lora_config(r=8), tensors), "HL303")
    assert finding.details["examples"][0]["tensor_rank"] == 2


def test_ungathered_zero3_shards_are_reported_but_lora_bias_is_not():
    tensors = {f"{Q_PROJ}.lora_A.weight": (0,), f"{Q_PROJ}.lora_B.weight": (4096, 8), f"{Q_PROJ}.lora_B.bias": (4096,)}
    [finding] = lint(snapshot(lora_config(), tensors), "HL303")
    assert finding.details == {"tensors": 1, "examples": {f"{Q_PROJ}.lora_A.weight": [0]}}
    assert "ZeRO-3" in finding.message and "not gathered" in finding.message


def adalora(mask: list[bool], rank: int) -> RepoSnapshot:
    config = lora_config(
        peft_type="ADALORA",
        init_r=6,
        target_r=2,
        rank_pattern={"model.layers.0.self_attn.q_proj.lora_E": mask},
    )
    tensors = {f"{Q_PROJ}.lora_A": (rank, 4096), f"{Q_PROJ}.lora_B": (4096, rank), f"{Q_PROJ}.lora_E": (rank, 1)}
    return snapshot(config, tensors)


def test_adalora_ranks_come_from_its_masks_and_may_be_zero():
    assert lint(adalora([True, False, True, False, False, False], 2), "HL303") == []
    assert lint(adalora([False] * 6, 0), "HL303") == []  # pruned to rank 0 by AdaLoRA, not by ZeRO-3
    [finding] = lint(adalora([True] * 3 + [False] * 3, 2), "HL303")
    assert finding.details["tensors"] == 3
    assert finding.details["examples"][0]["configured_rank"] == 3


def test_target_parameters_stack_one_rank_per_expert():
    experts = PREFIX + "model.layers.0.mlp.experts"
    config = lora_config(r=8, target_parameters=["mlp.experts.gate_up_proj"])
    tensors = {f"{experts}.lora_A.weight": (8 * 16, 4096), f"{experts}.lora_B.weight": (22016, 8 * 16)}
    assert lint(snapshot(config, tensors), "HL303") == []


def test_non_lora_methods_are_not_judged():
    assert lint(snapshot(lora_config(peft_type="IA3"), {f"{Q_PROJ}.ia3_l": (4096, 1)}), "HL303") == []


# --- HL304 malformed-safetensors --------------------------------------------------------------------------------

WELL_FORMED = weights_file(lora_tensors(layers=1))  # 4 bf16 tensors of 32,768 elements: 262,144 data bytes
DATA = 4 * 8 * 4096 * 2


def malformed(**changes: object) -> RepoSnapshot:
    return snapshot(weights=[dataclasses.replace(WELL_FORMED, **changes)])


def moved(name_suffix: str, offsets: tuple[int, int], dtype: str = "BF16") -> dict[str, TensorHeader]:
    tensors = dict(WELL_FORMED.tensors)
    name = next(n for n in tensors if n.endswith(name_suffix))
    tensors[name] = TensorHeader(name, dtype, tensors[name].shape, offsets)
    return tensors


def problems(snap: RepoSnapshot) -> list[str]:
    [finding] = lint(snap, "HL304")
    assert (finding.severity.value, finding.category.value, finding.file) == (
        "error",
        "integrity",
        "adapter_model.safetensors",
    )
    return [p["problem"] for p in finding.details["problems"]]


def test_a_truncated_upload_is_caught_from_the_header_and_size():
    full_size = 8 + WELL_FORMED.header_length + DATA
    [finding] = lint(malformed(size=full_size - 1000), "HL304")
    [problem] = finding.details["problems"]
    assert problem == {
        "problem": "truncated",
        "message": f"the file is 1,000 bytes shorter than its header says ({full_size - 1000:,} of {full_size:,})",
        "expected_size": full_size,
        "size": full_size - 1000,
    }
    assert "safetensors refuses to open it" in finding.message


def test_trailing_bytes_and_a_header_past_the_end():
    assert problems(malformed(size=8 + WELL_FORMED.header_length + DATA + 16)) == ["trailing bytes"]
    assert problems(malformed(size=100)) == ["header beyond file"]


def test_offsets_must_tile_the_data_section():
    # Each of the 4 tensors spans 65,536 bytes; moving the last one 2 bytes on leaves a gap and overruns the file.
    assert problems(malformed(tensors=moved("v_proj.lora_B.weight", (3 * 65536 + 2, 4 * 65536 + 2)))) == [
        "gap",
        "truncated",
    ]
    overlapping = moved("v_proj.lora_A.weight", (65536 + 8, 2 * 65536 + 8))
    assert problems(malformed(tensors=overlapping)) == ["overlap", "gap"]


def test_dtype_and_byte_length_must_agree():
    assert problems(malformed(tensors=moved("q_proj.lora_A.weight", (0, 65536), dtype="Q4"))) == ["unknown dtype"]
    kinds = problems(malformed(tensors=moved("q_proj.lora_A.weight", (0, 65536), dtype="F32")))
    assert kinds == ["length mismatch"]


def test_unparsable_headers_and_malformed_entries():
    broken = WeightsFile(path="adapter_model.safetensors", size=10, error="header is not valid UTF-8 JSON")
    [finding] = lint(snapshot(weights=[broken]), "HL304")
    assert "header is not valid UTF-8 JSON" in finding.message
    assert problems(malformed(malformed=("weird",))) == ["malformed entries"]


def test_well_formed_files_pass_including_newer_float8_dtypes():
    assert lint(snapshot(), "HL304") == []
    fnuz = TensorHeader("x", "F8_E4M3FNUZ", (1024,), (0, 1024))
    assert (
        lint(snapshot(weights=[WeightsFile("adapter_model.safetensors", 8 + 64 + 1024, 64, {"x": fnuz})]), "HL304")
        == []
    )


# --- HL305 missing-adapter-files --------------------------------------------------------------------------------


def without_config(**kwargs: object) -> RepoSnapshot:
    return dataclasses.replace(snapshot(**kwargs), adapter_config=None)


def test_a_repo_without_config_cannot_load():
    [finding] = lint(without_config(files=["README.md", "adapter_model.safetensors"]), "HL305")
    assert (finding.severity.value, finding.category.value, finding.file) == (
        "error",
        "integrity",
        "adapter_config.json",
    )
    assert "Can't find 'adapter_config.json'" in finding.message


def test_an_unparsable_config_or_one_without_peft_type():
    [finding] = lint(snapshot(config_error="Expecting value: line 1 column 1 (char 0)"), "HL305")
    assert "cannot be read (Expecting value" in finding.message
    assert finding.details["config_error"].startswith("Expecting value")
    config = lora_config()
    del config["peft_type"]
    [finding] = lint(snapshot(config), "HL305")
    assert "missing required keys: {'peft_type'}" in finding.message


def test_no_weights_or_only_shards():
    [finding] = lint(snapshot(weights=[], files=["adapter_config.json", "README.md"]), "HL305")
    assert "no adapter weights" in finding.message
    assert finding.details == {"shards": [], "subfolders": []}
    shards = [weights_file({}, path=f"adapter_model-0000{i}-of-00002.safetensors") for i in (1, 2)]
    [finding] = lint(snapshot(weights=shards), "HL305")
    assert finding.details["shards"] == [s.path for s in shards]
    assert "does not read" in finding.message


def test_a_subfolder_adapter_is_pointed_at():
    files = ["README.md", "ckpt/adapter_config.json", "ckpt/adapter_model.safetensors"]
    found = lint(without_config(weights=[], files=files), "HL305")
    assert len(found) == 2
    assert all('subfolder="ckpt"' in f.message for f in found)


def test_complete_repos_pass_even_with_pickle_weights():
    assert lint(snapshot(), "HL305") == []
    assert lint(snapshot(weights=[], files=["adapter_config.json", "adapter_model.bin"]), "HL305") == []


CASES = {
    "HL301": (trained_on_13b, snapshot),
    "HL302": (lambda: snapshot(lora_config(), lora_tensors(layers=40)), snapshot),
    "HL303": (lambda: snapshot(lora_config(r=8), lora_tensors(r=16, layers=1)), snapshot),
    "HL304": (lambda: malformed(size=100), snapshot),
    "HL305": (lambda: snapshot(weights=[], files=["adapter_config.json"]), snapshot),
}
