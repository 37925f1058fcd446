"""HL405: the repo carries what only training needs: checkpoints, optimizer and scheduler state, RNG state."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from hublint.rules.model import Category, Finding, Fix, Rule, Severity
from hublint.rules.numbers import human_bytes
from hublint.rules.snapshot import RepoFile, RepoSnapshot

# Folders the HF Trainer (`checkpoint-500/`) and DeepSpeed (`global_step500/`) write while training.
LEFTOVER_FOLDERS = ("checkpoint-*", "global_step*")
# Files the Trainer saves next to the weights for resuming; none of them is read to load or serve the adapter.
LEFTOVER_FILES = (
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "training_args.bin",
)
# Of those, the ones written with torch.save (pickles: loading them can run code).
PICKLED = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", "training_args.bin")


@dataclass(frozen=True)
class Leftover:
    """A leftover folder or loose file as the fix names it, with every repo file it stands for."""

    path: str
    is_folder: bool
    files: tuple[RepoFile, ...]

    @property
    def size(self) -> int | None:
        return _total([f.size for f in self.files])


class TrainingLeftovers(Rule):
    code = "HL405"
    name = "training-leftovers"
    category = Category.METADATA
    severity = Severity.WARNING
    needs = frozenset()  # the file list alone: no request beyond the listing

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        if not snapshot.primary:  # a repo's leftovers are told once, with its primary adapter
            return
        leftovers = find_leftovers((snapshot.repo_files or snapshot.files).values())
        if not leftovers:
            return
        files = [f for leftover in leftovers for f in leftover.files]
        size = _total([leftover.size for leftover in leftovers])
        pickles = sorted(f.path for f in files if _matches(posixpath.basename(f.path), PICKLED))
        names = ", ".join(f"{item.path}/" if item.is_folder else item.path for item in leftovers)
        cost = f"{human_bytes(size)} in {len(files)} files" if size is not None else f"{len(files)} files"
        message = (
            f"The repo carries what only training needs ({names}): every `snapshot_download` of it pays for them"
            f" ({cost}), and none of them is read to load the adapter."
        )
        if pickles:
            message += (
                f" {len(pickles)} of them ({', '.join(pickles[:3])}{', …' if len(pickles) > 3 else ''}) are Python"
                " pickles: whoever loads them runs whatever code they hold."
            )
        repo_id = snapshot.target if snapshot.source == "hub" else "OWNER/NAME"
        yield self.finding(
            message,
            file=leftovers[0].path,
            details={
                "leftovers": [item.path for item in leftovers],
                "files": len(files),
                "bytes": size,
                "pickles": pickles,
            },
            fix=Fix(_fix_summary(repo_id, leftovers)),
        )


def find_leftovers(files: Iterator[RepoFile] | list[RepoFile] | tuple[RepoFile, ...]) -> list[Leftover]:
    """Leftover folders (outermost match) and loose leftover files outside them, in path order."""
    folders: dict[str, list[RepoFile]] = {}
    loose: list[Leftover] = []
    for repo_file in sorted(files, key=lambda f: f.path):
        parts = repo_file.path.split("/")
        folder_depth = next((i for i, part in enumerate(parts[:-1]) if _matches(part, LEFTOVER_FOLDERS)), None)
        if folder_depth is not None:
            folders.setdefault("/".join(parts[: folder_depth + 1]), []).append(repo_file)
        elif _matches(parts[-1], LEFTOVER_FILES):
            loose.append(Leftover(repo_file.path, False, (repo_file,)))
    found = [Leftover(path, True, tuple(members)) for path, members in folders.items()] + loose
    return sorted(found, key=lambda item: item.path)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _total(sizes: list[int | None]) -> int | None:
    return None if None in sizes else sum(s for s in sizes if s is not None)


def _fix_summary(repo_id: str, leftovers: list[Leftover]) -> str:
    folders = [item.path for item in leftovers if item.is_folder]
    loose = [item.path for item in leftovers if not item.is_folder]
    calls = [f"api.delete_folder({path!r}, repo_id={repo_id!r})" for path in folders]
    if loose:
        calls.append(f"api.delete_files({repo_id!r}, delete_patterns={loose!r})")
    return (
        "Delete them from the repo (the adapter itself stays): `from huggingface_hub import HfApi; api = HfApi(); "
        + "; ".join(calls)
        + '`. Next time keep them out of the upload: `upload_folder(..., ignore_patterns=["checkpoint-*",'
        ' "global_step*", "optimizer.pt", "scheduler.pt", "rng_state*.pth", "scaler.pt",'
        ' "trainer_state.json", "training_args.bin"])`, or save only the adapter with'
        " `model.save_pretrained(dir)` before pushing."
    )
