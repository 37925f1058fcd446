"""What inference servers do with each part of a PEFT LoRA adapter, at the versions research/serving.md read.

Effects: "refuses" (the server raises or exits), "ignores" (it loads the adapter and silently drops that part),
"mis-scales" (it applies the weights with another scaling than PEFT's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Server:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


VLLM = Server("vLLM", "0.33.0")
SGLANG = Server("SGLang", "0.5.23")
TGI = Server("TGI", "3.3.7")
LLAMA_CPP = Server("llama.cpp convert_lora_to_gguf.py", "@0b03adaa")
SERVERS = (VLLM, SGLANG, TGI, LLAMA_CPP)

# vllm/config/lora.py: `MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]`, default 16.
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
VLLM_DEFAULT_MAX_LORA_RANK = 16
# vllm/lora/peft_helper.py: string inits vLLM accepts (case-insensitive); the rest rewrite the base weights.
VLLM_INIT_METHODS = frozenset({"gaussian", "eva", "orthogonal", "mica", "lora_ga"})
# vllm/lora/peft_helper.py: the only modules_to_save vLLM accepts (classification heads).
VLLM_FULL_MODULES = frozenset({"classifier", "score"})
# sglang/srt/lora/utils.py: the string forms of target_modules SGLang understands.
SGLANG_TARGET_STRINGS = frozenset({"all", "all-linear"})


# Short names of the adapter parts in EFFECTS, for messages.
PART_LABELS: Mapping[str, str] = {
    "method": "adapters that are not LoRA",
    "dora": "DoRA",
    "modules_to_save": "full module weights",
    "bias": "bias",
    "added_tokens": "added tokens",
    "trainable_tokens": "trainable tokens",
    "added_tokens_file": "added_tokens.json",
    "rslora": "rsLoRA",
    "rank_pattern": "rank_pattern",
    "alpha_pattern": "alpha_pattern",
    "base_rewriting_init": "its init_lora_weights",
    "regex_target_modules": "regex target_modules",
}


@dataclass(frozen=True)
class Effect:
    server: Server
    effect: str  # refuses | ignores | mis-scales
    note: str  # what the server does, in its own words where it has any


_NOT_REDONE = "The init's rewrite of the base weights is not redone, so outputs are wrong (inferred)."

# Adapter part -> what each server does with it (research/serving.md sections 1-5 and the table in section 7).
EFFECTS: Mapping[str, tuple[Effect, ...]] = {
    # Every PEFT method but LoRA (rules/peft/methods.py): IA3, LoHa, OFT, VeRA, prompt tuning, AdaLoRA...
    "method": (
        Effect(VLLM, "refuses", "PEFTHelper needs r, lora_alpha and target_modules and only lora_A/lora_B tensors."),
        Effect(SGLANG, "refuses", 'assert hf_config["peft_type"].lower() == "lora" (lora_config.py).'),
        Effect(TGI, "refuses", "Only .lora_A.weight / .lora_B.weight keys are mapped; LoraConfig.load reads r."),
        Effect(LLAMA_CPP, "refuses", "Unexpected name '...': Not a lora_A or lora_B tensor."),
    ),
    "dora": (
        Effect(VLLM, "refuses", "vLLM does not yet support DoRA."),
        Effect(SGLANG, "refuses", "LoRA serving doesn't support DoRA adapters."),
        Effect(TGI, "ignores", "use_dora is never read: the magnitudes are dropped and outputs differ from PEFT's."),
        Effect(LLAMA_CPP, "refuses", "Unexpected name '...lora_magnitude_vector': Not a lora_A or lora_B tensor."),
    ),
    "modules_to_save": (
        Effect(VLLM, "refuses", "vLLM only supports modules_to_save being either None or ['classifier', 'score']."),
        Effect(SGLANG, "ignores", "modules_to_save is never read; full weights outside target_modules are skipped."),
        Effect(TGI, "ignores", "Logged as unused adapter weights."),
        Effect(LLAMA_CPP, "refuses", "Unexpected name: Not a lora_A or lora_B tensor (Embeddings is present...)."),
    ),
    "bias": (
        Effect(VLLM, "refuses", "Adapter bias is not supported. / vLLM does not support LoRA bias (lora_bias)."),
        Effect(SGLANG, "ignores", "bias is never read."),
        Effect(TGI, "ignores", "Only lora_A / lora_B weights are mapped; the rest is logged as unused."),
        Effect(LLAMA_CPP, "refuses", "Bias tensors are not lora_A or lora_B tensors, so the script exits (inferred)."),
    ),
    "added_tokens": (
        Effect(VLLM, "refuses", "Extra vocabulary was removed (~v0.12): the embedding must match the base vocab."),
        Effect(SGLANG, "ignores", "Embedding rows outside a targeted embedding are skipped."),
        Effect(TGI, "ignores", "embed_tokens and lm_head are never adapted."),
        Effect(LLAMA_CPP, "refuses", "Embeddings is present in the adapter (new tokens added during fine tuning)."),
    ),
    "trainable_tokens": (
        Effect(VLLM, "refuses", "...trainable_tokens_delta is unsupported LoRA weight (inferred from the source)."),
        Effect(SGLANG, "ignores", "The delta matches no target module and is skipped."),
        Effect(TGI, "ignores", "Logged as unused adapter weights."),
        Effect(LLAMA_CPP, "refuses", "Unexpected name: Not a lora_A or lora_B tensor (inferred from the source)."),
    ),
    "added_tokens_file": (
        Effect(SGLANG, "refuses", "LoRA serving currently doesn't support adapters that add tokens to the vocabulary."),
    ),
    "rslora": (
        Effect(SGLANG, "mis-scales", "Scaling is always lora_alpha / r, not lora_alpha / sqrt(r)."),
        Effect(LLAMA_CPP, "mis-scales", "The GGUF stores only lora_alpha; the runtime scales by alpha / rank."),
    ),
    "rank_pattern": (
        Effect(SGLANG, "mis-scales", "rank_pattern is never read, so scaling uses the global r (inferred)."),
        Effect(TGI, "mis-scales", "rank_pattern is never read, so scaling uses the global r (inferred)."),
    ),
    "alpha_pattern": (
        Effect(SGLANG, "mis-scales", "alpha_pattern is never read: scaling uses the global lora_alpha."),
        Effect(TGI, "mis-scales", "alpha_pattern is never read: scaling uses the global lora_alpha."),
        Effect(LLAMA_CPP, "mis-scales", "Only the global lora_alpha is written to the GGUF."),
    ),
    "base_rewriting_init": (
        Effect(VLLM, "refuses", "Inits such as PiSSA, OLoRA, CorDA and LoftQ modify the base model weights."),
        Effect(SGLANG, "ignores", _NOT_REDONE),
        Effect(TGI, "ignores", _NOT_REDONE),
        Effect(LLAMA_CPP, "ignores", _NOT_REDONE),
    ),
    "regex_target_modules": (Effect(SGLANG, "refuses", "SGLang does not recognize target_modules='...'."),),
}
