"""Sample repos for `hublint demo` and the tests, written without torch.

Weights are sparse: each safetensors file gets a real header and is then extended to its full size with
`truncate`, so a 13 GB Llama-2-7B base costs a few kilobytes of disk. Headers, shapes and sizes are what
hublint reads; the zeros behind them are never looked at.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DTYPE_SIZES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
# transformers' default `max_shard_size` before v4.47; Llama-2-7b-hf ships as a 9.98 GB + 3.5 GB pair.
MAX_SHARD_BYTES = 10 * 1000**3

TensorSpecs = dict[str, tuple[str, list[int]]]

BASE_7B = "meta-llama-demo/Llama-2-7b-hf"
TINY_BASE = "demo-bases/tiny-llama"
SEED_ADAPTER = "demo-user/llama2-chat-extended-r1024"
PADDED_ADAPTER = "demo-user/tinyllama-padded-resize"
CLEAN_ADAPTER = "demo-user/llama2-clean-lora"

# Every key `LoraConfig(...).save_pretrained()` writes with peft 0.21.2, at its default value.
LORA_CONFIG_DEFAULTS: dict[str, Any] = {
    "alora_invocation_tokens": None,
    "alpha_pattern": {},
    "arrow_config": None,
    "auto_mapping": None,
    "base_model_name_or_path": None,
    "bias": "none",
    "corda_config": None,
    "ensure_weight_tying": False,
    "eva_config": None,
    "exclude_modules": None,
    "fan_in_fan_out": False,
    "inference_mode": True,
    "init_lora_weights": True,
    "kasa_config": None,
    "layer_replication": None,
    "layers_pattern": None,
    "layers_to_transform": None,
    "loftq_config": {},
    "lora_alpha": 8,
    "lora_bias": False,
    "lora_dropout": 0.0,
    "lora_ga_config": None,
    "megatron_config": None,
    "megatron_core": "megatron.core",
    "modules_to_save": None,
    "monteclora_config": None,
    "peft_type": "LORA",
    "peft_version": "0.21.2",
    "qalora_group_size": 16,
    "r": 8,
    "rank_pattern": {},
    "revision": None,
    "target_modules": None,
    "target_parameters": None,
    "task_type": "CAUSAL_LM",
    "trainable_token_indices": None,
    "use_bdlora": None,
    "use_dora": False,
    "use_qalora": False,
    "use_rslora": False,
    "velora_config": None,
}
SPECIAL_TOKENS = {0: "<unk>", 1: "<s>", 2: "</s>"}


def write_safetensors(path: Path, tensors: TensorSpecs, metadata: dict[str, str] | None = None) -> None:
    """Write a valid safetensors file whose data section is a hole: header only, then `truncate` to full size.

    `tensors` maps names to (dtype, shape); offsets are contiguous in insertion order. The JSON header is padded
    with spaces to a multiple of 8 bytes, as the safetensors library does.
    """
    header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = nbytes(dtype, shape)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        out.truncate(8 + len(encoded) + offset)


def nbytes(dtype: str, shape: list[int]) -> int:
    return DTYPE_SIZES[dtype] * math.prod(shape)


def tensor_bytes(tensors: TensorSpecs) -> int:
    return sum(nbytes(dtype, shape) for dtype, shape in tensors.values())


def llama_tensors(*, vocab: int, hidden: int, intermediate: int, layers: int, dtype: str) -> TensorSpecs:
    """A Llama checkpoint's tensors in state-dict order (untied, multi-head attention)."""
    tensors: TensorSpecs = {"model.embed_tokens.weight": (dtype, [vocab, hidden])}
    for layer in range(layers):
        prefix = f"model.layers.{layer}"
        for projection in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[f"{prefix}.self_attn.{projection}.weight"] = (dtype, [hidden, hidden])
        tensors[f"{prefix}.mlp.gate_proj.weight"] = (dtype, [intermediate, hidden])
        tensors[f"{prefix}.mlp.up_proj.weight"] = (dtype, [intermediate, hidden])
        tensors[f"{prefix}.mlp.down_proj.weight"] = (dtype, [hidden, intermediate])
        tensors[f"{prefix}.input_layernorm.weight"] = (dtype, [hidden])
        tensors[f"{prefix}.post_attention_layernorm.weight"] = (dtype, [hidden])
    tensors["model.norm.weight"] = (dtype, [hidden])
    tensors["lm_head.weight"] = (dtype, [vocab, hidden])
    return tensors


def lora_tensors(
    *, layers: int, hidden: int, rank: int, targets: list[str], saved: dict[str, int], dtype: str
) -> TensorSpecs:
    """An adapter's tensors as PEFT saves them; `saved` maps modules_to_save (embed_tokens, lm_head) to rows."""
    tensors: TensorSpecs = {}
    for layer in range(layers):
        for target in targets:
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{target}"
            tensors[f"{prefix}.lora_A.weight"] = (dtype, [rank, hidden])
            tensors[f"{prefix}.lora_B.weight"] = (dtype, [hidden, rank])
    if "embed_tokens" in saved:
        tensors["base_model.model.model.embed_tokens.weight"] = (dtype, [saved["embed_tokens"], hidden])
    if "lm_head" in saved:
        tensors["base_model.model.lm_head.weight"] = (dtype, [saved["lm_head"], hidden])
    return tensors


def write_checkpoint(directory: Path, tensors: TensorSpecs, *, max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
    """Save like transformers: one `model.safetensors`, or shards + `model.safetensors.index.json`.

    Shards are cut in state-dict order; inside each file tensors are sorted by name, as safetensors does.
    """
    shards = list(_split_shards(tensors, max_shard_bytes))
    if len(shards) == 1:
        write_safetensors(directory / "model.safetensors", dict(sorted(shards[0].items())), {"format": "pt"})
        return
    weight_map: dict[str, str] = {}
    for number, shard in enumerate(shards, start=1):
        filename = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(directory / filename, dict(sorted(shard.items())), {"format": "pt"})
        weight_map.update(dict.fromkeys(shard, filename))
    index = {"metadata": {"total_size": tensor_bytes(tensors)}, "weight_map": dict(sorted(weight_map.items()))}
    _write_json(directory / "model.safetensors.index.json", index)


def _split_shards(tensors: TensorSpecs, max_shard_bytes: int) -> Iterator[TensorSpecs]:
    shard: TensorSpecs = {}
    shard_bytes = 0
    for name, (dtype, shape) in tensors.items():
        size = nbytes(dtype, shape)
        if shard and shard_bytes + size > max_shard_bytes:
            yield shard
            shard, shard_bytes = {}, 0
        shard[name] = (dtype, shape)
        shard_bytes += size
    yield shard


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _write_readme(directory: Path, front_matter: str, body: str) -> None:
    (directory / "README.md").write_text(f"---\n{front_matter.strip()}\n---\n\n{body.strip()}\n", encoding="utf-8")


def llama_config(*, vocab: int, hidden: int, intermediate: int, layers: int, heads: int, dtype: str) -> dict[str, Any]:
    """A config.json as Llama checkpoints on the Hub carry it (`torch_dtype` for old readers, `dtype` for new)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": heads,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": dtype,
        "dtype": dtype,
        "transformers_version": "4.31.0.dev0",
        "use_cache": True,
        "vocab_size": vocab,
    }


def _added_token(content: str, *, special: bool) -> dict[str, Any]:
    return {
        "content": content,
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": special,
    }


def write_tokenizer_files(directory: Path, added: dict[int, str], *, vocab: int | None = None) -> None:
    """`tokenizer_config.json` (Llama special tokens + `added`) and `special_tokens_map.json`; with `vocab`, also
    a `tokenizer.json` as tokenizers writes it: `added_tokens` first, then a BPE model of `vocab` pieces."""
    decoder = {str(index): _added_token(content, special=True) for index, content in SPECIAL_TOKENS.items()}
    decoder.update({str(index): _added_token(content, special=False) for index, content in added.items()})
    if vocab is not None:
        _write_json(directory / "tokenizer.json", _tokenizer_json(decoder, vocab))
    _write_json(
        directory / "tokenizer_config.json",
        {
            "add_bos_token": True,
            "add_eos_token": False,
            "added_tokens_decoder": decoder,
            "bos_token": "<s>",
            "clean_up_tokenization_spaces": False,
            "eos_token": "</s>",
            "legacy": False,
            "model_max_length": 1000000000000000019884624838656,
            "pad_token": None,
            "padding_side": "right",
            "sp_model_kwargs": {},
            "tokenizer_class": "LlamaTokenizer",
            "unk_token": "<unk>",
        },
    )
    special_map = {
        f"{role}_token": {key: value for key, value in _added_token(content, special=True).items() if key != "special"}
        for role, content in (("bos", "<s>"), ("eos", "</s>"), ("unk", "<unk>"))
    }
    _write_json(directory / "special_tokens_map.json", special_map)


def _tokenizer_json(decoder: dict[str, dict[str, Any]], vocab: int) -> dict[str, Any]:
    pieces = {content: index for index, content in SPECIAL_TOKENS.items()}
    pieces.update({f"piece{index}": index for index in range(len(SPECIAL_TOKENS), vocab)})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": int(index), **token} for index, token in decoder.items()],
        "normalizer": None,
        "pre_tokenizer": None,
        "model": {"type": "BPE", "unk_token": "<unk>", "vocab": pieces, "merges": []},
    }


def write_adapter(directory: Path, *, base: str, config: dict[str, Any], tensors: TensorSpecs, summary: str) -> None:
    """An adapter repo as `PeftModel.save_pretrained` + `push_to_hub` leave it."""
    adapter_config = {**LORA_CONFIG_DEFAULTS, "base_model_name_or_path": base, **config}
    _write_json(directory / "adapter_config.json", dict(sorted(adapter_config.items())))
    write_safetensors(directory / "adapter_model.safetensors", dict(sorted(tensors.items())), {"format": "pt"})
    front_matter = f"base_model: {base}\nlibrary_name: peft\ntags:\n- base_model:adapter:{base}\n- lora\n- transformers"
    _write_readme(directory, front_matter, f"# {directory.name}\n\n{summary}")


def build_llama2_7b_base(root: Path) -> None:
    directory = root / BASE_7B
    shape = {"vocab": 32000, "hidden": 4096, "intermediate": 11008, "layers": 32}
    write_checkpoint(directory, llama_tensors(**shape, dtype="BF16"))
    _write_json(directory / "config.json", llama_config(**shape, heads=32, dtype="bfloat16"))
    _write_json(
        directory / "generation_config.json",
        {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "temperature": 0.6, "top_p": 0.9},
    )
    write_tokenizer_files(directory, {})
    _write_readme(
        directory,
        "language:\n- en\nlicense: llama2\npipeline_tag: text-generation\ntags:\n- llama\n- llama-2",
        "# Llama 2 7B (demo)\n\nA header-only stand-in at the real Llama-2-7B shapes: the weights are sparse zeros.",
    )


def build_tiny_base(root: Path) -> None:
    directory = root / TINY_BASE
    shape = {"vocab": 320, "hidden": 64, "intermediate": 128, "layers": 2}
    write_checkpoint(directory, llama_tensors(**shape, dtype="F32"))
    _write_json(directory / "config.json", llama_config(**shape, heads=4, dtype="float32"))
    _write_readme(directory, "library_name: transformers\npipeline_tag: text-generation", "# Tiny Llama (demo)")


def build_seed_adapter(root: Path) -> None:
    """The seed case: vocabulary grown 32000 -> 33004, whole embeddings saved, r=1024."""
    rank, rows = 1024, 33004
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    directory = root / SEED_ADAPTER
    write_adapter(
        directory,
        base=BASE_7B,
        config={
            "r": rank,
            "lora_alpha": 2 * rank,
            "target_modules": targets,
            "modules_to_save": ["lm_head", "embed_tokens"],
        },
        tensors=lora_tensors(
            layers=32,
            hidden=4096,
            rank=rank,
            targets=targets,
            saved={"embed_tokens": rows, "lm_head": rows},
            dtype="BF16",
        ),
        summary="Llama-2 chat fine-tune with 1004 tool tokens added to the vocabulary.",
    )
    write_tokenizer_files(directory, {32000 + i: f"<|tool_{i + 1}|>" for i in range(rows - 32000)})


def build_padded_adapter(root: Path) -> None:
    """`resize_token_embeddings(330, pad_to_multiple_of=64)`: the tokenizer has 330 tokens, the embeddings 384 rows."""
    directory = root / PADDED_ADAPTER
    targets = ["q_proj", "v_proj"]
    write_adapter(
        directory,
        base=TINY_BASE,
        config={"r": 8, "lora_alpha": 16, "target_modules": targets, "modules_to_save": ["embed_tokens", "lm_head"]},
        tensors=lora_tensors(
            layers=2, hidden=64, rank=8, targets=targets, saved={"embed_tokens": 384, "lm_head": 384}, dtype="F32"
        ),
        summary="A tiny adapter trained after adding 10 tokens with `pad_to_multiple_of=64`.",
    )
    write_tokenizer_files(directory, {320 + i: f"<extra_{i}>" for i in range(10)})


def build_clean_adapter(root: Path) -> None:
    targets = ["q_proj", "v_proj"]
    write_adapter(
        root / CLEAN_ADAPTER,
        base=BASE_7B,
        config={"r": 16, "lora_alpha": 32, "target_modules": targets},
        tensors=lora_tensors(layers=32, hidden=4096, rank=16, targets=targets, saved={}, dtype="BF16"),
        summary="A plain rank-16 LoRA: nothing to report.",
    )


def build_samples(root: Path) -> list[str]:
    """Write the bases and sample adapters under `root`; returns the adapter repo ids in demo order."""
    build_llama2_7b_base(root)
    build_tiny_base(root)
    build_seed_adapter(root)
    build_padded_adapter(root)
    build_clean_adapter(root)
    return [SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER]
