"""A synthetic Hub for crawls: a few small Llama-shaped bases and many adapters of four kinds on them.

Adapters are pushed as people push them: with `PeftModel.push_to_hub` (adapter files only) or by a Trainer (with
the base's tokenizer files byte for byte, or a grown tokenizer). Used by tests/test_crawler.py and
benchmarks/bench_crawl.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hublint.emulator.samples import (
    llama_config,
    llama_tensors,
    lora_tensors,
    write_adapter,
    write_checkpoint,
    write_tokenizer_files,
)

# Three small Llama-shaped bases: every adapter of one base shares its facts.
BASES = {
    "bench-bases/tiny-a": {"vocab": 320, "hidden": 64, "intermediate": 128, "layers": 2},
    "bench-bases/tiny-b": {"vocab": 512, "hidden": 96, "intermediate": 192, "layers": 2},
    "bench-bases/tiny-c": {"vocab": 1024, "hidden": 128, "intermediate": 256, "layers": 3},
}


def write_hub(root: Path, adapters: int) -> list[str]:
    """The bases and `adapters` adapter repos (spread over the bases); returns the adapter ids."""
    for base, shape in BASES.items():
        write_base(root, base, shape)
    names = list(BASES)
    ids = [f"user{n % 17}/adapter-{n:04d}" for n in range(adapters)]
    for n, repo_id in enumerate(ids):
        write_variant(root, repo_id, names[n % len(names)], n // len(names))
    return ids


def write_base(root: Path, base: str, shape: dict[str, int]) -> None:
    directory = root / base
    write_checkpoint(directory, llama_tensors(**shape, dtype="F32"))
    (directory / "config.json").write_text(json.dumps(llama_config(**shape, heads=4, dtype="float32")))
    write_tokenizer_files(directory, {}, vocab=shape["vocab"])


def write_variant(root: Path, repo_id: str, base: str, variant: int) -> None:
    """Four kinds in turn: clean (adapter files only), grown vocabulary (HL101), rank at the layer size (HL201,
    with the base's tokenizer files), padded resize."""
    shape = BASES[base]
    kind = variant % 4
    rank = shape["hidden"] if kind == 2 else 8
    saved = {}
    added: dict[int, str] = {}
    if kind in (1, 3):
        rows = shape["vocab"] + (8 if kind == 1 else 64)
        saved = {"embed_tokens": rows, "lm_head": rows}
        added = {shape["vocab"] + i: f"<extra_{i}>" for i in range(8)}
    directory = root / repo_id
    targets = ["q_proj", "v_proj"]
    config = {"r": rank, "lora_alpha": 2 * rank, "target_modules": targets, "modules_to_save": list(saved) or None}
    tensors = lora_tensors(
        layers=shape["layers"], hidden=shape["hidden"], rank=rank, targets=targets, saved=saved, dtype="F32"
    )
    write_adapter(directory, base=base, config=config, tensors=tensors, summary=f"Synthetic adapter, kind {kind}.")
    if added:
        write_tokenizer_files(directory, added, vocab=shape["vocab"])
    elif kind == 2:  # what a Trainer push leaves: the base's tokenizer files, byte for byte
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(root / base / name, directory / name)
