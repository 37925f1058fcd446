"""A synthetic Hub for crawls: a few small Llama-shaped bases and many adapters of four kinds on them.

Adapters are pushed as people push them: with `PeftModel.push_to_hub` (adapter files only) or by a Trainer (with
the base's tokenizer files byte for byte, or a grown tokenizer). Used by tests/test_crawler.py and
benchmarks/bench_crawl.py; `ScaledRepos` serves the Hub's scale (100,000 adapters) for benchmarks/bench_scale.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hublint.emulator.repos import Repo, RepoStore, isoformat_utc
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
    write_bases(root)
    names = list(BASES)
    ids = [f"user{n % 17}/adapter-{n:04d}" for n in range(adapters)]
    for n, repo_id in enumerate(ids):
        write_variant(root, repo_id, names[n % len(names)], n // len(names))
    return ids


def write_bases(root: Path) -> None:
    for base, shape in BASES.items():
        write_base(root, base, shape)


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


# -- the Hub's scale: many generated repos over a few shared file sets ----------------------------------------------

TEMPLATES = ".synthetic"  # under the root; not a valid owner name, so never listed itself
KINDS = 4
SCALE_EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
SCALE_OWNERS = 5000


def scaled_id(n: int) -> str:
    """The n-th generated repo: owners hold about 20 adapters each, as on the Hub (a long tail of small owners)."""
    return f"user{n % SCALE_OWNERS:04d}/adapter-{n:06d}"


def write_templates(root: Path) -> None:
    """The bases, and one file set per (base, kind) for `ScaledRepos` to serve under many names."""
    write_bases(root)
    for b, base in enumerate(BASES):
        for kind in range(KINDS):
            write_variant(root, f"{TEMPLATES}/{b}-{kind}", base, kind)


class ScaledRepos(RepoStore):
    """The repos on disk (the bases) and `count` generated adapters, each the file set of one template.

    A generated repo costs one small object (its files are its template's; nothing is written per repo), so the
    emulator lists 100,000 of them in a few hundred MB. Its sha is its own (the template's, its id and its
    commit count); `commit` gives a repo a new commit, newest in the listing, and `delete` removes it.
    """

    def __init__(self, root: Path, count: int) -> None:
        super().__init__(root)
        self.templates = [
            self._load(f"{TEMPLATES}/{b}-{kind}", str(root / TEMPLATES / f"{b}-{kind}"))
            for b in range(len(BASES))
            for kind in range(KINDS)
        ]
        self._lock = threading.Lock()
        self._commits = 0
        self._repos: dict[str, Repo] = {}
        for n in range(count):
            self._repos[scaled_id(n)] = self._generated(n, SCALE_EPOCH + timedelta(seconds=n), 0)
        self._listed: list[Repo] | None = None

    def _generated(self, n: int, modified: datetime, commit: int) -> Repo:
        # The templates go round the bases first: every base has adapters of every kind.
        template = self.templates[(n % len(BASES)) * KINDS + (n // len(BASES)) % KINDS]
        repo_id = scaled_id(n)
        sha = hashlib.sha1(f"{template.sha}:{repo_id}:{commit}".encode()).hexdigest()
        stamp = isoformat_utc(modified)
        return dataclasses.replace(template, repo_id=repo_id, sha=sha, last_modified=stamp, created_at=stamp)

    @property
    def ids(self) -> list[str]:
        return list(self._repos)

    def commit(self, n: int, when: datetime) -> None:
        """A new commit to the n-th repo at `when`: a new sha and lastModified."""
        with self._lock:
            self._commits += 1
            self._repos[scaled_id(n)] = self._generated(n, when, self._commits)
            self._listed = None

    def delete(self, n: int) -> None:
        with self._lock:
            self._repos.pop(scaled_id(n), None)
            self._listed = None

    def get(self, repo_id: str) -> Repo | None:
        return self._repos.get(repo_id) or super().get(repo_id)

    def all(self) -> list[Repo]:
        with self._lock:
            if self._listed is None:
                self._listed = list(self._repos.values())
            listed = self._listed
        return super().all() + listed
