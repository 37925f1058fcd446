"""Build RepoSnapshots for pure rule tests: small, explicit, close to what PEFT really writes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from hublint.emulator.samples import llama_tensors
from hublint.rules.snapshot import (
    BaseModelFacts,
    RepoFile,
    RepoSnapshot,
    TensorHeader,
    TokenizerFacts,
    WeightsFile,
)

LLAMA_7B = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32}
PREFIX = "base_model.model."


def llama_shapes(
    vocab: int = 32000, hidden: int = 4096, intermediate: int = 11008, layers: int = 32, tied: bool = False
) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of a Llama checkpoint (the base model's safetensors headers); a tied one stores no lm_head."""
    tensors = llama_tensors(vocab=vocab, hidden=hidden, intermediate=intermediate, layers=layers, dtype="BF16")
    shapes = {name: tuple(shape) for name, (_, shape) in tensors.items()}
    if tied:
        del shapes["lm_head.weight"]
    return shapes


def base_facts(
    model_id: str = "meta-llama/Llama-2-7b-hf",
    vocab: int = 32000,
    hidden: int = 4096,
    intermediate: int = 11008,
    layers: int = 32,
    tied: bool = False,
    status: str = "ok",
    added_tokens: Mapping[int, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> BaseModelFacts:
    if status != "ok":
        return BaseModelFacts(model_id=model_id, status=status, message=f"base {status}")
    shapes = llama_shapes(vocab, hidden, intermediate, layers, tied)
    return BaseModelFacts(
        model_id=model_id,
        revision="0" * 40,
        config=dict(
            config
            or {
                "model_type": "llama",
                "vocab_size": vocab,
                "hidden_size": hidden,
                "intermediate_size": intermediate,
                "num_hidden_layers": layers,
                "tie_word_embeddings": tied,
            }
        ),
        shapes=shapes,
        parameter_count=sum(math.prod(s) for s in shapes.values()),
        tokenizer_added_tokens=dict(added_tokens if added_tokens is not None else {0: "<unk>", 1: "<s>", 2: "</s>"}),
    )


def lora_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "bias": "none",
        "target_modules": ["q_proj", "v_proj"],
        "modules_to_save": None,
        "use_rslora": False,
        "use_dora": False,
        "rank_pattern": {},
        "alpha_pattern": {},
        "init_lora_weights": True,
        "inference_mode": True,
        "revision": None,
    }
    config.update(overrides)
    return config


def lora_tensors(
    r: int = 8,
    modules: Iterable[str] = ("q_proj", "v_proj"),
    layers: int = 32,
    hidden: int = 4096,
    intermediate: int = 11008,
) -> dict[str, tuple[int, ...]]:
    """Saved LoRA tensors for Llama modules, named as PEFT saves them."""
    dims = {
        "q_proj": (hidden, hidden),
        "k_proj": (hidden, hidden),
        "v_proj": (hidden, hidden),
        "o_proj": (hidden, hidden),
        "gate_proj": (hidden, intermediate),
        "up_proj": (hidden, intermediate),
        "down_proj": (intermediate, hidden),
    }
    tensors: dict[str, tuple[int, ...]] = {}
    for i in range(layers):
        for module in modules:
            family = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            in_features, out_features = dims[module]
            path = f"{PREFIX}model.layers.{i}.{family}.{module}"
            tensors[f"{path}.lora_A.weight"] = (r, in_features)
            tensors[f"{path}.lora_B.weight"] = (out_features, r)
    return tensors


def weights_file(
    tensors: Mapping[str, tuple[int, ...]],
    path: str = "adapter_model.safetensors",
    dtype: str = "BF16",
    size: int | None = None,
) -> WeightsFile:
    """A well-formed header: offsets contiguous in order; size = header + data unless given."""
    headers: dict[str, TensorHeader] = {}
    offset = 0
    width = {"F32": 4, "BF16": 2, "F16": 2}.get(dtype, 2)
    for name, shape in tensors.items():
        end = offset + math.prod(shape) * width
        headers[name] = TensorHeader(name, dtype, tuple(shape), (offset, end))
        offset = end
    header_length = 64 + 128 * len(headers)
    return WeightsFile(
        path=path,
        size=size if size is not None else 8 + header_length + offset,
        header_length=header_length,
        tensors=headers,
        metadata={"format": "pt"},
    )


def tokenizer(
    added: Mapping[int, str] | None = None,
    files: tuple[str, ...] = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
    model_vocab_size: int | None = None,
    same_as_base: bool = False,
) -> TokenizerFacts:
    return TokenizerFacts(
        files=files,
        added_tokens=dict(added or {}),
        model_vocab_size=model_vocab_size,
        same_as_base=same_as_base,
    )


def added_tokens(start: int, count: int, specials: bool = True) -> dict[int, str]:
    tokens = {0: "<unk>", 1: "<s>", 2: "</s>"} if specials else {}
    tokens.update({start + i: f"<|new_{i}|>" for i in range(count)})
    return tokens


def snapshot(
    config: Mapping[str, Any] | None = None,
    tensors: Mapping[str, tuple[int, ...]] | None = None,
    *,
    weights: Iterable[WeightsFile] | None = None,
    base: BaseModelFacts | None = None,
    tok: TokenizerFacts | None = None,
    card: Mapping[str, Any] | None = None,
    files: Iterable[str] | None = None,
    target: str = "someone/adapter",
    source: str = "hub",
    config_error: str | None = None,
) -> RepoSnapshot:
    """A snapshot with sensible defaults: a Llama-2-7B base, a clean r=8 LoRA on q/v, no tokenizer."""
    config = lora_config() if config is None and config_error is None else config
    if weights is None:
        weights = [weights_file(tensors if tensors is not None else lora_tensors())]
    weights = tuple(weights)
    tok = tok if tok is not None else tokenizer(files=())
    names = set(files) if files is not None else {"adapter_config.json", "README.md", *(w.path for w in weights)}
    if files is None:
        names |= set(tok.files)
    return RepoSnapshot(
        target=target,
        source=source,
        revision="1" * 40 if source == "hub" else None,
        files={n: RepoFile(n, next((w.size for w in weights if w.path == n), 100)) for n in sorted(names)},
        adapter_config=config,
        adapter_config_error=config_error,
        weights=weights,
        tokenizer=tok,
        card=card if card is not None else {"base_model": "meta-llama/Llama-2-7b-hf", "library_name": "peft"},
        base=base if base is not None else base_facts(),
    )


SEED_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def seed_adapter(r: int = 1024, rows: int = 33004) -> RepoSnapshot:
    """The seed: LoRA at rank r on q, k, v, o of Llama-2-7B, plus embed_tokens and lm_head resized to `rows`."""
    tensors = {
        **lora_tensors(r=r, modules=SEED_MODULES),
        f"{PREFIX}model.embed_tokens.weight": (rows, 4096),
        f"{PREFIX}lm_head.weight": (rows, 4096),
    }
    config = lora_config(r=r, target_modules=list(SEED_MODULES), modules_to_save=["lm_head", "embed_tokens"])
    return snapshot(config, tensors, tok=tokenizer(added_tokens(32000, rows - 32000)))


def lint(snap: RepoSnapshot, *codes: str, options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Any]:
    """The findings of the selected rules, run as `hublint check` runs them (rules that can't judge are skipped)."""
    from hublint.lint import LintConfig, run_rules, selected_rules

    config = LintConfig(select=frozenset(codes), options=options or {})
    return run_rules(snap, selected_rules(config), config).findings
