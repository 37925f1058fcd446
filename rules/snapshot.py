"""Everything a rule may read about one repository at one revision, and about its base model.

`bot/hub.py` (the Hub) and `bot/local.py` (a directory) build these; rules never fetch anything.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hublint.rules.peft.layers import BaseLayers

# Byte width of each safetensors dtype (huggingface/safetensors: `Dtype`); F8 and sub-byte types included.
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}

INPUT_EMBEDDING_NAMES = ("embed_tokens", "wte", "word_embeddings", "embed_in", "shared", "tok_embeddings")
OUTPUT_EMBEDDING_NAMES = ("lm_head", "embed_out")

ADAPTER_CONFIG = "adapter_config.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "added_tokens.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)


@dataclass(frozen=True)
class TensorHeader:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        bits = DTYPE_BITS.get(self.dtype)
        return None if bits is None else (self.numel * bits + 7) // 8


@dataclass(frozen=True)
class WeightsFile:
    """The parsed header of one `.safetensors` file. The weights themselves are never read."""

    path: str
    size: int | None  # bytes of the whole file (Content-Range, X-Linked-Size, LFS pointer or stat)
    header_length: int | None = None  # the u64 length prefix
    tensors: Mapping[str, TensorHeader] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None  # why the header could not be parsed at all
    malformed: tuple[str, ...] = ()  # entries that are present but not a valid tensor description
    # "safetensors", or "pytorch": a torch.save zip read without unpickling (hublint.torchbin), where
    # data_offsets are the bytes of the tensor's storage record it spans
    format: str = "safetensors"
    imports: tuple[str, ...] = ()  # pytorch: every global ("module.name") its pickle would import, in order
    problems: tuple[str, ...] = ()  # pytorch: inconsistencies that make torch.load fail, one line each
    unsupported: str | None = None  # why it cannot be read without unpickling (not a defect: e.g. legacy format)

    @property
    def data_start(self) -> int | None:
        return None if self.header_length is None else 8 + self.header_length


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int | None
    blob_id: str | None = None
    lfs_sha256: str | None = None
    lfs_pointer: bool = False  # the checkout holds a Git LFS pointer instead of the file


@dataclass(frozen=True)
class TokenizerFacts:
    """What the repo's tokenizer files say about token ids, read without downloading multi-MB files."""

    files: tuple[str, ...]
    added_tokens: Mapping[int, str] = field(default_factory=dict)
    model_vocab_size: int | None = None  # the tokenizer model's own vocabulary, when it was read
    same_as_base: bool = False  # every tokenizer file has the base's blob id: nothing changed
    errors: tuple[str, ...] = ()

    @property
    def max_id(self) -> int | None:
        ids = list(self.added_tokens)
        if self.model_vocab_size:
            ids.append(self.model_vocab_size - 1)
        return max(ids) if ids else None

    @property
    def size(self) -> int | None:
        """len(tokenizer) as transformers reports it (ids are contiguous from 0 in real tokenizers)."""
        return None if self.max_id is None else self.max_id + 1


@dataclass(frozen=True)
class BaseModelFacts:
    """The base model, from its config.json and safetensors headers; shared by every adapter on it."""

    model_id: str
    revision: str | None = None
    status: str = "ok"  # ok | missing | gated | private | invalid | error
    message: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # tensor name -> shape
    parameter_count: int | None = None
    tokenizer_blob_ids: Mapping[str, str] = field(default_factory=dict)
    tokenizer_added_tokens: Mapping[int, str] = field(default_factory=dict)
    shapes_unavailable: str | None = None  # why `shapes` is empty though the checkpoint exists (e.g. legacy .bin)

    @property
    def available(self) -> bool:
        return self.status == "ok"

    @property
    def text_config(self) -> Mapping[str, Any]:
        nested = self.config.get("text_config")
        return nested if isinstance(nested, Mapping) else self.config

    def _config_value(self, key: str) -> Any:
        value = self.config.get(key)
        return value if value is not None else self.text_config.get(key)

    @property
    def vocab_size(self) -> int | None:
        value = self._config_value("vocab_size")
        return value if isinstance(value, int) else None

    @property
    def hidden_size(self) -> int | None:
        value = self._config_value("hidden_size")
        return value if isinstance(value, int) else None

    @property
    def has_custom_code(self) -> bool:
        """The base ships its own modelling code (`auto_map`: ChatGLM, Baichuan, InternLM, older Qwen and Phi…),
        which transformers runs only with trust_remote_code=True."""
        return isinstance(self.config.get("auto_map"), dict) and bool(self.config["auto_map"])

    @property
    def tie_word_embeddings(self) -> bool:
        value = self.config.get("tie_word_embeddings")
        if value is None:
            value = self.text_config.get("tie_word_embeddings")
        # transformers' PretrainedConfig default is True; Llama-family configs set it explicitly.
        return True if value is None else bool(value)

    def embedding_tensor(self, output: bool = False) -> str | None:
        """The name of the input (or output) embedding matrix in the base checkpoint."""
        return self._embedding_tensors[output]

    @functools.cached_property
    def _embedding_tensors(self) -> tuple[str | None, str | None]:
        # Once per base (shared by every adapter on it): rules ask per adapter tensor, and a large base has
        # thousands of tensors to scan.
        def named(names: frozenset[str]) -> str | None:
            found = [n for n, shape in self.shapes.items() if len(shape) == 2 and _module_leaf(n) in names]
            return min(found, key=len) if found else None

        return named(INPUT_EMBEDDING_NAMES), named(OUTPUT_EMBEDDING_NAMES)

    @functools.cached_property
    def layers(self) -> BaseLayers:
        """The base's modules by the paths PEFT writes, indexed once per base for every rule and adapter."""
        from hublint.rules.peft.layers import BaseLayers  # the index reads these facts: built on first use

        return BaseLayers(self)

    @property
    def embedding_rows(self) -> int | None:
        """Rows of the input embedding as stored; the config's vocab_size when the headers lack it."""
        name = self.embedding_tensor()
        return self.shapes[name][0] if name else self.vocab_size

    @property
    def lm_head_rows(self) -> int | None:
        name = self.embedding_tensor(output=True)
        return self.shapes[name][0] if name else self.embedding_rows

    def vocab_rows(self, role: str) -> int | None:
        """Rows of the base's input ("embed") or output ("lm_head") embedding; None when unknown."""
        return self.lm_head_rows if role == "lm_head" else self.embedding_rows

    def module_shape(self, module: str) -> tuple[int, ...] | None:
        """Shape of `<module>.weight` in the base, e.g. `model.layers.0.self_attn.q_proj` -> (out, in)."""
        return self.shapes.get(f"{module}.weight")


def _module_leaf(tensor_name: str) -> str:
    parts = tensor_name.split(".")
    return parts[-2] if len(parts) >= 2 and parts[-1] == "weight" else parts[-1]


class MissingBaseFacts(RuntimeError):
    """A rule asked for the base model's facts that the runner should have made sure exist."""


@dataclass(frozen=True)
class RepoSnapshot:
    target: str  # Hub id or directory, as the user named it
    source: str  # "hub" | "local"
    revision: str | None = None  # commit sha for Hub repos
    files: Mapping[str, RepoFile] = field(default_factory=dict)
    adapter_config: Mapping[str, Any] | None = None
    adapter_config_error: str | None = None
    weights: tuple[WeightsFile, ...] = ()
    tokenizer: TokenizerFacts | None = None
    card: Mapping[str, Any] | None = None  # README front matter
    card_error: str | None = None
    base: BaseModelFacts | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. the repo's own .hublint.toml [tool.hublint]
    # One of several adapters in a repo (`checkpoint-500/`, `adapters/<name>/`): the folder its files are in, and
    # the repo's whole listing. `files` then holds that folder's files by their paths inside it. Repo-level rules
    # (leftovers) speak once per repo, on its primary adapter: the root one, else the first subfolder.
    subfolder: str | None = None
    repo_files: Mapping[str, RepoFile] | None = None
    primary: bool = True

    @property
    def config(self) -> Mapping[str, Any]:
        return self.adapter_config or {}

    @property
    def base_model_id(self) -> str | None:
        value = self.config.get("base_model_name_or_path")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def hub_id(self) -> str | None:
        """The adapter's Hub id when linted from the Hub (what a loading program passes to from_pretrained)."""
        return self.target.split("@", 1)[0] if self.source == "hub" else None

    @property
    def requested_revision(self) -> str | None:
        """The revision the user asked for (`owner/name@rev`); loading code pins only that, never a server's sha."""
        _, _, revision = self.target.partition("@")
        return revision or None if self.source == "hub" else None

    def require_base(self) -> BaseModelFacts:
        """The base model's facts, for a rule that declares `Need.BASE`: the runner skips such a rule (see
        `Rule.skip_reason`) when they are missing, so reaching the raise is a bug in the runner, not bad input."""
        if self.base is None or not self.base.available:
            raise MissingBaseFacts(f"{self.target}: a rule needing the base model ran without its facts")
        return self.base

    def tensors(self) -> Iterator[tuple[WeightsFile, TensorHeader]]:
        for weights in self.weights:
            for tensor in weights.tensors.values():
                yield weights, tensor

    @property
    def weights_unsupported(self) -> str | None:
        """Why the adapter's tensors are unknown although its weights file exists (e.g. a legacy .bin)."""
        return next((w.unsupported for w in self.weights if w.unsupported), None)

    @property
    def total_adapter_bytes(self) -> int:
        return sum(f.size or 0 for f in self.weights)

    def has_file(self, path: str) -> bool:
        return path in self.files
