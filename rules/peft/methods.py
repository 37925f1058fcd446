"""Every PEFT method (`peft.PeftType`, peft 0.21.2): how it names the tensors it saves, and which servers take it.

Read from the installed peft: each tuner layer's `adapter_layer_names` (trainable, saved) and the saved buffers
among its `other_param_names`, and `utils/save_and_load.py::get_peft_model_state_dict`, which strips the adapter
name, so `…q_proj.ia3_l.default` is saved as `base_model.model.…q_proj.ia3_l`. tests/peft_factory.py builds one
real adapter per method and tests/test_peft_ground_truth.py checks this table against what peft writes.

Families decide which rules can judge a method:
- "lora": LoRA factors `lora_A` [r, in] / `lora_B` [out, r] (LoRA, AdaLoRA): every shape, rank and serving rule.
- "layer": other tuners that wrap base layers (IA3, LoHa, OFT, VeRA, …): tensors sit under the adapted module, so
  module-existence and parameter-share rules work; their shapes follow each method's own algebra, so rank and
  LoRA-shape rules skip them.
- "prompt": prompt learning (prompt/prefix/p-tuning, …) saves un-prefixed virtual-token tables (`prompt_embeddings`
  [virtual tokens, hidden or layers*2*hidden]), touching no base module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hublint.rules.peft.config import ADALORA, LORA, peft_type

LORA_FAMILY, LAYER_FAMILY, PROMPT_FAMILY = "lora", "layer", "prompt"


@dataclass(frozen=True)
class Method:
    peft_type: str
    family: str
    # Attribute names PEFT saves under the adapted module (`<module>.<name>[.weight]`), or directly under
    # `base_model.` for tensors shared by every layer (VeRA's projections, UniLoRA's vector).
    tensor_names: tuple[str, ...] = ()
    # Saved but never trained: random projections, SVD factors of the base, index tables. PEFT's
    # print_trainable_parameters leaves them out, and so does the parameter share (HL202).
    frozen_names: tuple[str, ...] = ()
    frozen_leaves: tuple[str, ...] = ()  # last key components of buffers under a trained attribute (GLoRA `zeros`)
    name: str = ""  # how people write the method (skip reasons, messages); PEFT's peft_type when empty

    @property
    def display_name(self) -> str:
        return self.name or self.peft_type

    @property
    def is_lora(self) -> bool:
        return self.family == LORA_FAMILY


_LORA_NAMES = ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector")


def _layer(
    kind: str, *names: str, frozen: tuple[str, ...] = (), frozen_leaves: tuple[str, ...] = (), name: str = ""
) -> Method:
    return Method(kind, LAYER_FAMILY, (*names, *frozen), frozen, frozen_leaves, name)


def _prompt(kind: str, name: str = "") -> Method:
    return Method(kind, PROMPT_FAMILY, name=name)


METHODS: Mapping[str, Method] = {
    m.peft_type: m
    for m in (
        Method(LORA, LORA_FAMILY, _LORA_NAMES, name="LoRA"),
        Method(ADALORA, LORA_FAMILY, (*_LORA_NAMES, "lora_E"), name="AdaLoRA"),
        # several LoRAs plus a learned mixer
        _layer("XLORA", *_LORA_NAMES, "internal_xlora_classifier", name="X-LoRA"),
        _prompt("PROMPT_TUNING", "prompt tuning"),
        _prompt("MULTITASK_PROMPT_TUNING", "multitask prompt tuning"),
        _prompt("P_TUNING", "P-tuning"),
        _prompt("PREFIX_TUNING", "prefix tuning"),
        _prompt("CPT"),
        _layer("ADAPTION_PROMPT", "adaption_prompt", "adaption_gate"),
        _layer("IA3", "ia3_l", name="IA3"),
        _layer("LOHA", "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2", name="LoHa"),
        _layer(
            "LOKR", "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2", name="LoKr"
        ),
        _layer("OFT", "oft_R", "oft_embedding_R"),
        _layer("BOFT", "boft_R", "boft_s"),
        _layer("POLY", "poly_lora_A", "poly_lora_B", "poly_router"),
        _layer("LN_TUNING", "ln_tuning_layers"),
        _layer("VERA", "vera_lambda_b", "vera_lambda_d", frozen=("vera_A", "vera_B"), name="VeRA"),
        _layer("PVERA", "pvera_lambda_b", "pvera_lambda_d", frozen=("pvera_A", "pvera_B")),
        _layer("FOURIERFT", "fourierft_spectrum", name="FourierFT"),
        _layer("WAVEFT", "waveft_spectrum"),
        _layer("HRA", "hra_u"),
        _layer("VBLORA", "vblora_logits_A", "vblora_logits_B", "vblora_vector_bank", name="VB-LoRA"),
        _layer("MISS", "miss_block"),
        _layer("C3A", "c3a_kernel"),
        _layer("RANDLORA", "randlora_lambda", "randlora_gamma", frozen=("randlora_A", "randlora_B"), name="RandLoRA"),
        _layer("SHIRA", "shira_weight", frozen=("shira_indices",), name="SHiRA"),
        _layer("TRAINABLE_TOKENS", "trainable_tokens_delta"),
        _layer("ROAD", "road_theta", "road_alpha"),
        _layer("OSF", "osf_svd_params"),
        _layer("DELORA", "delora_A", "delora_B", "delora_lambda", frozen=("delora_w_norm",), name="DeLoRA"),
        _layer("HIRA", "hira_A", "hira_B", "hira_embedding_A", "hira_embedding_B"),
        _layer("ADAMSS", "adamss_A", "adamss_B"),
        _layer("BEFT", "beft_bias"),
        _layer("LILY", "lily_A", "lily_B", "lily_router"),
        _layer(
            "FROD",
            "frod_lambda_l",
            "frod_lambda_s_values",
            frozen=("frod_V", "frod_U", "frod_s_indices", "frod_s_size"),
        ),
        _layer("GLORA", "glora_A", "glora_B", "glora_C", "glora_D", "glora_E", frozen_leaves=("zeros",), name="GLoRA"),
        _layer("UNILORA", "unilora_theta_d"),
        _layer("GRALORA", "gralora_A", "gralora_B", "gralora_A_general", "gralora_B_general"),
        _layer("CARTRIDGE", "cartridge"),
        _layer("TINYLORA", "tinylora_v", frozen=("tinylora_A", "tinylora_B", "tinylora_P")),
        _layer("PSOFT", "psoft_R"),
        _layer("PEANUT", "peanut_A", "peanut_B", "peanut_encoders", "peanut_decoders"),
        _layer(
            "SHADOW", "shadow_down", "shadow_up", "shadow_update_transform", "shadow_update_gate", "shadow_backbone"
        ),
        _layer(
            "SUPERTUNING",
            "supertuning_values",
            "supertuning_lora_A",
            "supertuning_lora_B",
            frozen=("supertuning_indices",),
        ),
        _layer("DEFT", "deft_P", "deft_R"),
    )
}


# peft_types that PEFT releases once knew and the installed one does not: (the type it became, since when).
RENAMED: Mapping[str, tuple[str, str]] = {"BONE": ("MISS", "0.17.0")}


# Why the LoRA-only rules (ranks, LoRA factor shapes, serving limits) do not apply to each family.
FAMILY_NOTES: Mapping[str, str] = {
    LORA_FAMILY: "a LoRA-family method",
    LAYER_FAMILY: "its tensors follow the method's own algebra, not LoRA's rank-r factors",
    PROMPT_FAMILY: "prompt learning saves virtual-token embeddings and changes no base layer",
}

# adapter_config.json files other tools write, with keys PEFT never writes.
# mlx_lm/tuner/utils.py save_config: fine_tune_type, num_layers, lora_parameters {rank, scale, dropout, keys};
# mlx_lm releases before fine_tune_type wrote lora_layers.
FOREIGN_FORMATS: tuple[tuple[str, frozenset[str]], ...] = (
    ("MLX-LM (mlx_lm.lora)", frozenset({"lora_parameters", "fine_tune_type", "lora_layers"})),
)
# Keys every PEFT release writes, or that a hand-made PEFT config would have; a config with none of them is not
# PEFT's (JAX/Tunix exports and other tools' configs).
_PEFT_KEYS = frozenset({"base_model_name_or_path", "task_type", "inference_mode", "target_modules", "r"})


def foreign_format(config: Mapping[str, Any]) -> str | None:
    """The tool that wrote this adapter_config.json when it is not PEFT's (no peft_type, another tool's keys)."""
    if not config or "peft_type" in config:
        return None
    named = next((tool for tool, keys in FOREIGN_FORMATS if keys & config.keys()), None)
    return named or (None if _PEFT_KEYS & config.keys() else "a tool other than PEFT")


def method_of(config: Mapping[str, Any]) -> Method | None:
    """The method PEFT builds for this config; None when PEFT would not know the peft_type."""
    kind = peft_type(config)
    return METHODS.get(kind) if kind else None


def method_names(kinds: frozenset[str]) -> str:
    """{"LORA", "ADALORA"} -> "LoRA and AdaLoRA": LoRA first, then by peft_type."""
    names = [
        METHODS[kind].display_name if kind in METHODS else kind for kind in sorted(kinds, key=lambda k: (k != LORA, k))
    ]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def owner_module(method: Method, key_path: str) -> str | None:
    """The adapted module of a saved key path: `…q_proj` for `…q_proj.glora_A.Xd`; None for shared tensors."""
    index = component_index(method, key_path)
    return ".".join(key_path.split(".")[:index]) or None if index is not None else None


def component_index(method: Method, key_path: str) -> int | None:
    """Index of the first dotted component of a saved key that is one of the method's tensor names."""
    for index, part in enumerate(key_path.split(".")):
        if part in method.tensor_names:
            return index
    return None


def is_frozen(method: Method, key_path: str) -> bool:
    """True for a saved tensor the method never trains (VeRA's shared projections, SHiRA's indices)."""
    index = component_index(method, key_path)
    parts = key_path.split(".")
    return index is not None and (parts[index] in method.frozen_names or parts[-1] in method.frozen_leaves)
