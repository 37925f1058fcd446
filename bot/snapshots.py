"""Build a RepoSnapshot (and BaseModelFacts) from any repository reader: the Hub or a directory.

The reader decides how bytes arrive (range reads over HTTP, or a file); this module decides which few
bytes are worth reading, given what the enabled rules need.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from hublint import parsing, torchbin
from hublint.rules.model import Need
from hublint.rules.peft.ids import is_hub_id
from hublint.rules.snapshot import (
    ADAPTER_CONFIG,
    TOKENIZER_FILES,
    BaseModelFacts,
    RepoFile,
    RepoSnapshot,
    TokenizerFacts,
    WeightsFile,
)

SMALL_FILE_LIMIT = 4_000_000  # JSON we read whole: configs, indexes, tokenizer_config.json
TOKENIZER_JSON_PREFIX = 65_536
_SHARD = re.compile(r"^adapter_model-\d+-of-\d+\.safetensors$")
ADAPTER_PICKLE = "adapter_model.bin"  # PEFT reads it only when there is no adapter_model.safetensors
# transformers' order of preference for a base checkpoint: (index of shards, single file)
BASE_CHECKPOINTS = (
    ("model.safetensors.index.json", "model.safetensors"),
    ("pytorch_model.bin.index.json", "pytorch_model.bin"),
)


class RepoReader(Protocol):
    """One repository at one revision. `bot/hub.py` and `bot/local.py` implement it."""

    target: str
    source: str
    revision: str | None
    files: Mapping[str, RepoFile]
    reads_are_cheap: bool  # a local file: read tokenizer.json whole rather than guess from its prefix

    def read(self, path: str) -> bytes: ...

    def read_range(self, path: str, start: int, length: int) -> tuple[bytes, int | None]: ...

    def card(self) -> tuple[dict[str, Any] | None, str | None]: ...


MAX_ADAPTERS_PER_REPO = 32  # a repo of thousands of checkpoints is linted on its shallowest few


def adapter_folders(paths: Iterable[str]) -> list[str]:
    """The folders of a repo that hold an adapter_config.json: "" for the root, then subfolders (`checkpoint-500`,
    `adapters/<name>`), shallowest first. A repo with none has the root, where HL305 reports what is missing."""
    suffix = "/" + ADAPTER_CONFIG
    folders = {path.removesuffix(suffix) for path in paths if path.endswith(suffix)}
    if ADAPTER_CONFIG in paths:
        folders.add("")
    ordered = sorted(folders, key=lambda folder: (folder.count("/") if folder else -1, folder))
    return ordered[:MAX_ADAPTERS_PER_REPO] or [""]


@dataclasses.dataclass
class SubfolderReader:
    """One adapter in a subfolder of a repo, read as if the folder were the repo: paths are the folder's own."""

    repo: RepoReader
    subfolder: str

    def __post_init__(self) -> None:
        prefix = self.subfolder + "/"
        self.target, self.source, self.revision = self.repo.target, self.repo.source, self.repo.revision
        self.reads_are_cheap = self.repo.reads_are_cheap
        self.files = {
            path.removeprefix(prefix): dataclasses.replace(repo_file, path=path.removeprefix(prefix))
            for path, repo_file in self.repo.files.items()
            if path.startswith(prefix)
        }

    def read(self, path: str) -> bytes:
        return self.repo.read(f"{self.subfolder}/{path}")

    def read_range(self, path: str, start: int, length: int) -> tuple[bytes, int | None]:
        return self.repo.read_range(f"{self.subfolder}/{path}", start, length)

    def card(self) -> tuple[dict[str, Any] | None, str | None]:
        return self.repo.card()  # the model card is the repo's README, wherever the adapter sits


class BaseFactsSource(Protocol):
    def facts(self, model_id: str, revision: str | None) -> BaseModelFacts: ...


class UnreadableRepo(Exception):
    """The repository cannot be linted at all (e.g. weights are Git LFS pointers): a one-line reason."""


def build_snapshot(
    repo: RepoReader,
    needs: frozenset[Need],
    bases: BaseFactsSource | None,
    base_override: str | None = None,
) -> RepoSnapshot:
    config, config_error = _adapter_config(repo)
    base = None
    base_id = base_override or (config or {}).get("base_model_name_or_path")
    if Need.BASE in needs and bases is not None and isinstance(base_id, str):
        if is_hub_id(base_id):
            revision = None if base_override else (config or {}).get("revision")
            base = bases.facts(base_id, revision if isinstance(revision, str) else None)
        else:
            base = BaseModelFacts(base_id, status="invalid", message="not a Hub model id")
    card, card_error = repo.card() if Need.CARD in needs else (None, None)
    return RepoSnapshot(
        target=repo.target,
        source=repo.source,
        revision=repo.revision,
        files=repo.files,
        adapter_config=config,
        adapter_config_error=config_error,
        weights=_adapter_weights(repo) if needs & {Need.WEIGHTS, Need.BASE} else (),
        tokenizer=_tokenizer(repo, base) if Need.TOKENIZER in needs else None,
        card=card,
        card_error=card_error,
        base=base,
    )


def _adapter_config(repo: RepoReader) -> tuple[dict[str, Any] | None, str | None]:
    if ADAPTER_CONFIG not in repo.files:
        return None, None
    return _read_json(repo, ADAPTER_CONFIG)


def _read_json(repo: RepoReader, path: str) -> tuple[dict[str, Any] | None, str | None]:
    size = repo.files[path].size
    if size is not None and size > SMALL_FILE_LIMIT:
        return None, f"{path} is {size:,} bytes, too large for a configuration file"
    raw = repo.read(path)
    if len(raw) > SMALL_FILE_LIMIT:  # the size was not known (a listing entry): a capped read tells
        return None, f"{path} is over {SMALL_FILE_LIMIT:,} bytes, too large for a configuration file"
    return parsing.parse_json_object(raw, path)


def _adapter_weights(repo: RepoReader) -> tuple[WeightsFile, ...]:
    names = [p for p in repo.files if p == "adapter_model.safetensors" or _SHARD.match(p)]
    if not names and ADAPTER_PICKLE in repo.files:
        names = [ADAPTER_PICKLE]
    pointers = [p for p in names if repo.files[p].lfs_pointer]
    if pointers:
        size = repo.files[pointers[0]].size
        what = f"a {size:,}-byte file" if size is not None else "a file"
        raise UnreadableRepo(
            f"{pointers[0]} is a Git LFS pointer to {what}, not the file itself: fetch it (`git lfs pull`; in a"
            " workflow, `lfs: true` in actions/checkout's `with:`) or read its header from the Hub copy"
            " (`--hub-repo OWNER/NAME`, or the action's `hub-repo` input)"
        )
    return tuple(_weights_file(repo, name) for name in sorted(names))


def _weights_file(repo: RepoReader, path: str) -> WeightsFile:
    reader = parsing.read_safetensors_header if path.endswith(".safetensors") else torchbin.read_torch_bin
    return reader(path, repo.files[path].size, lambda start, length: repo.read_range(path, start, length))


def _tokenizer(repo: RepoReader, base: BaseModelFacts | None) -> TokenizerFacts:
    files = tuple(name for name in TOKENIZER_FILES if name in repo.files)
    if not files:
        return TokenizerFacts(files=())
    if base is not None and base.available and _same_blobs(repo, base, files):
        return TokenizerFacts(files=files, same_as_base=True)
    added, vocab_size, errors = _added_tokens(repo, files)
    return TokenizerFacts(files=files, added_tokens=added, model_vocab_size=vocab_size, errors=tuple(errors))


def _added_tokens(repo: RepoReader, files: tuple[str, ...]) -> tuple[dict[int, str], int | None, list[str]]:
    """The added tokens by id, the tokenizer model's vocabulary size when read, and read errors.

    tokenizer.json lists every added token in its leading `added_tokens` (tokenizer_config.json's
    `added_tokens_decoder` and added_tokens.json repeat them), so over HTTP its head is the one read; a local
    directory reads every file whole, since reads cost nothing there.
    """
    tokenizer_json = "tokenizer.json" in files and not repo.files["tokenizer.json"].lfs_pointer
    if tokenizer_json and not repo.reads_are_cheap:
        return _tokenizer_json_added_tokens(repo), None, []
    added: dict[int, str] = {}
    errors: list[str] = []
    vocab_size = None
    if "tokenizer_config.json" in files:
        config, error = _read_json(repo, "tokenizer_config.json")
        added.update(parsing.added_tokens_from_config(config or {}))
        errors += [error] if error else []
    if "added_tokens.json" in files:
        extra, error = _read_json(repo, "added_tokens.json")
        added.update({v: str(k) for k, v in (extra or {}).items() if isinstance(v, int)})
        errors += [error] if error else []
    if tokenizer_json:
        document, error = parsing.parse_json_object(repo.read("tokenizer.json"), "tokenizer.json")
        added.update(parsing.added_tokens_from_list((document or {}).get("added_tokens")))
        vocab_size = parsing.model_vocab_size(document or {})
        errors += [error] if error else []
    return added, vocab_size, errors


def _same_blobs(repo: RepoReader, base: BaseModelFacts, files: tuple[str, ...]) -> bool:
    """Every tokenizer file is byte-identical to the base's (same git blob / LFS id): nothing was added."""
    return all(
        repo.files[f].blob_id is not None and repo.files[f].blob_id == base.tokenizer_blob_ids.get(f) for f in files
    )


def _tokenizer_json_added_tokens(repo: RepoReader) -> dict[int, str]:
    """Read the leading `added_tokens` of tokenizer.json, growing the range until the array closes."""
    length = TOKENIZER_JSON_PREFIX
    size = repo.files["tokenizer.json"].size
    while True:
        prefix, _ = repo.read_range("tokenizer.json", 0, length)
        tokens = parsing.added_tokens_from_prefix(prefix)
        if tokens is not None or len(prefix) < length or length >= SMALL_FILE_LIMIT or (size and length >= size):
            return tokens or {}
        length *= 4


def build_base_facts(repo: RepoReader, model_id: str) -> BaseModelFacts:
    config, error = _read_json(repo, "config.json") if "config.json" in repo.files else (None, "no config.json")
    if config is None:
        return BaseModelFacts(model_id, repo.revision, status="error", message=error)
    shapes: dict[str, tuple[int, ...]] = {}
    unreadable: list[str] = []
    for weights in _base_weights(repo):
        shapes.update({name: tensor.shape for name, tensor in weights.tensors.items()})
        reason = weights.unsupported or (f"{weights.path} cannot be read: {weights.error}" if weights.error else None)
        unreadable += [reason] if reason else []
    added, _, _ = _added_tokens(repo, tuple(name for name in TOKENIZER_FILES if name in repo.files))
    return BaseModelFacts(
        model_id=model_id,
        revision=repo.revision,
        config=config,
        shapes=shapes,
        parameter_count=sum(math.prod(shape) for shape in shapes.values()) or None,
        tokenizer_blob_ids={f: repo.files[f].blob_id or "" for f in TOKENIZER_FILES if f in repo.files},
        tokenizer_added_tokens=added,
        shapes_unavailable=unreadable[0] if unreadable and not shapes else None,
    )


def _base_weights(repo: RepoReader) -> list[WeightsFile]:
    for index_name, single in BASE_CHECKPOINTS:
        if index_name in repo.files:
            index, _ = _read_json(repo, index_name)
            weight_map = (index or {}).get("weight_map")
            shards = (
                sorted({v for v in weight_map.values() if isinstance(v, str)}) if isinstance(weight_map, dict) else []
            )
            return [_weights_file(repo, shard) for shard in shards if shard in repo.files]
        if single in repo.files:
            return [_weights_file(repo, single)]
    return []
