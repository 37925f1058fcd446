"""How PEFT names the tensors it saves, and which of them carry vocabulary rows (research/peft.md, section 1)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from hublint.rules.peft.config import TRAINABLE_TOKENS, peft_type
from hublint.rules.snapshot import (
    INPUT_EMBEDDING_NAMES,
    OUTPUT_EMBEDDING_NAMES,
    BaseModelFacts,
    RepoSnapshot,
    TensorHeader,
    WeightsFile,
)

PREFIX = "base_model.model."

# Longest suffix first: the first match decides the kind.
_SUFFIX_KINDS: tuple[tuple[str, str], ...] = (
    (".token_adapter.trainable_tokens_delta", "token_delta"),
    (".trainable_tokens_delta", "token_delta"),
    (".token_adapter.base_layer.weight", "full"),
    (".modules_to_save.weight", "full"),
    (".original_module.weight", "full"),
    (".lora_embedding_A", "lora_embedding_A"),
    (".lora_embedding_B", "lora_embedding_B"),
    (".lora_magnitude_vector", "magnitude"),
    (".lora_A.weight", "lora_A"),
    (".lora_B.weight", "lora_B"),
    (".lora_B.bias", "lora_bias"),
    (".base_layer.weight", "full"),
    (".base_layer.bias", "bias"),
    (".weight", "full"),
    (".bias", "bias"),
)
LORA_KINDS = frozenset({"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B"})


@dataclass(frozen=True)
class AdapterKey:
    name: str
    module: str  # module path in the base model, e.g. "model.layers.0.self_attn.q_proj"
    kind: str  # lora_A | lora_B | lora_embedding_A | lora_embedding_B | magnitude | token_delta | full | bias | ...
    prefixed: bool  # starts with "base_model.model." as PEFT writes it

    @property
    def leaf(self) -> str:
        return self.module.rsplit(".", 1)[-1]


def parse_key(name: str) -> AdapterKey:
    prefixed = name.startswith(PREFIX)
    rest = name[len(PREFIX) :] if prefixed else name
    for suffix, kind in _SUFFIX_KINDS:
        if rest.endswith(suffix):
            return AdapterKey(name, rest[: -len(suffix)], kind, prefixed)
    return AdapterKey(name, rest, "other", prefixed)


def adapter_keys(snapshot: RepoSnapshot) -> Iterator[tuple[WeightsFile, TensorHeader, AdapterKey]]:
    for weights, tensor in snapshot.tensors():
        yield weights, tensor, parse_key(tensor.name)


def _embedding_module(base: BaseModelFacts | None, output: bool) -> str | None:
    if base is None or not base.available:
        return None
    tensor = base.embedding_tensor(output=output)
    return tensor.rsplit(".", 1)[0] if tensor else None


def embedding_role(key: AdapterKey, base: BaseModelFacts | None) -> str | None:
    """ "embed" or "lm_head" when the key belongs to the input or output embedding, else None."""
    for role, output, names in (("embed", False, INPUT_EMBEDDING_NAMES), ("lm_head", True, OUTPUT_EMBEDDING_NAMES)):
        module = _embedding_module(base, output)
        if module is not None and key.module == module:
            return role
        if module is None and key.leaf in names:
            return role
    return None


@dataclass(frozen=True)
class VocabTensor:
    """A saved tensor whose size along one axis is the number of vocabulary rows."""

    file: str
    tensor: TensorHeader
    key: AdapterKey
    role: str  # "embed" | "lm_head"
    rows: int

    def added_rows(self, base: BaseModelFacts | None) -> int | None:
        """Rows beyond (negative: short of) the base's matrix of the same role; None when the base is unknown."""
        base_rows = base.vocab_rows(self.role) if base is not None and base.available else None
        return None if base_rows is None else self.rows - base_rows


def vocab_tensors(snapshot: RepoSnapshot) -> list[VocabTensor]:
    found = []
    for weights, tensor, key in adapter_keys(snapshot):
        role = embedding_role(key, snapshot.base)
        rows = _rows(key, tensor, role)
        if role and rows is not None:
            found.append(VocabTensor(weights.path, tensor, key, role, rows))
    return found


def resized_vocab_tensors(snapshot: RepoSnapshot) -> list[VocabTensor]:
    """The saved vocabulary tensors whose rows differ from the base's: the adapter was trained on a resized model."""
    return [v for v in vocab_tensors(snapshot) if v.added_rows(snapshot.base)]


def model_embedding_rows(snapshot: RepoSnapshot) -> int | None:
    """Rows of the input embedding once the adapter is loaded: the saved matrix's, else the base's."""
    saved = [v.rows for v in vocab_tensors(snapshot) if v.role == "embed"]
    if saved:
        return max(saved)
    return snapshot.base.embedding_rows if snapshot.base is not None and snapshot.base.available else None


def _rows(key: AdapterKey, tensor: TensorHeader, role: str | None) -> int | None:
    shape = tensor.shape
    if role is None or not shape:
        return None
    if key.kind == "full" and len(shape) == 2:
        return shape[0]
    if role == "embed" and key.kind == "lora_embedding_A" and len(shape) == 2:
        return shape[1]
    if role == "lm_head" and key.kind in ("lora_B", "magnitude"):
        return shape[0]
    return None


def trainable_token_indices(config: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The configured trainable token indices per embedding module (LoRA field or TRAINABLE_TOKENS type)."""
    value = config.get("trainable_token_indices")
    if peft_type(config) == TRAINABLE_TOKENS:
        targets = config.get("target_modules")
        if isinstance(targets, list) and targets and isinstance(targets[0], str):
            targets = targets[0]
        target = targets if isinstance(targets, str) and targets else "embed_tokens"
        value = {target: config.get("token_indices") or []}
    if isinstance(value, list):
        return {"embed_tokens": value}
    if isinstance(value, Mapping):
        return {str(k): list(v) if isinstance(v, list) else [] for k, v in value.items()}
    return {}


# PEFT matches rank_pattern/alpha_pattern keys with Python's backtracking `re`: a key like `(a+)+` against a module
# named `aaaa…a!` takes seconds per letter and holds the GIL. hublint matches them with RE2 (linear time, one pass
# for all keys) and caps what it will look at; a lookup it cannot decide is UNDECIDED, never a guess.
MAX_PATTERNS = 2_000  # real configs list at most one key per adapted module (hundreds)
MAX_PATTERN_LENGTH = 1_000
MAX_MODULE_LENGTH = 10_000


class _Undecided:
    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED: Any = _Undecided()  # no count, so rules that need one skip the module


def pattern_match(patterns: Mapping[str, Any] | None, module: str) -> Any:
    """PEFT's rank_pattern/alpha_pattern lookup: keys are regexes matched as `(.*\\.)?(key)$`, first match wins.

    None when no key matches; UNDECIDED when a key that could decide is beyond RE2 (look-arounds, back-references)
    or the keys or the module name are beyond the caps."""
    if not patterns:
        return None
    matcher = _matcher(tuple(str(key) for key in patterns))
    if matcher is None or len(module) > MAX_MODULE_LENGTH:
        return UNDECIDED
    first = matcher.first_match(module)
    if any(first is None or skipped < first for skipped in matcher.unsupported):
        return UNDECIDED  # a key hublint cannot evaluate comes first: PEFT might pick it
    return None if first is None else list(patterns.values())[first]


@dataclass(frozen=True)
class _PatternSet:
    """The keys RE2 compiled, as one set; `unsupported` are the indexes of keys only Python's `re` understands."""

    compiled: Any  # re2.Set, or None when no key compiled
    indexes: tuple[int, ...]  # the config's index of each key in `compiled`, in order
    unsupported: tuple[int, ...]

    def first_match(self, module: str) -> int | None:
        """The config's index of the first compiled key that matches, or None."""
        matched = (self.compiled.Match(_utf8(module)) if self.compiled is not None else None) or ()
        return min((self.indexes[i] for i in matched), default=None)


@functools.lru_cache(maxsize=64)
def _matcher(keys: tuple[str, ...]) -> _PatternSet | None:
    if len(keys) > MAX_PATTERNS or any(len(key) > MAX_PATTERN_LENGTH for key in keys):
        return None
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern to stderr
    compiled = re2.Set.MatchSet(options)
    indexes, unsupported = [], []
    for index, key in enumerate(keys):
        pattern = rf"(.*\.)?({key})$"
        try:
            re.compile(pattern)  # compiling is linear; only matching backtracks
        except (re.error, RecursionError, OverflowError):
            continue  # PEFT's own `re` refuses it too: it can never match
        try:
            compiled.Add(_utf8(pattern))
        except re2.error:
            unsupported.append(index)
            continue
        indexes.append(index)
    try:
        if indexes:
            compiled.Compile()
    except re2.error:  # over RE2's memory budget
        return None
    return _PatternSet(compiled if indexes else None, tuple(indexes), tuple(unsupported))


def _utf8(text: str) -> bytes:
    # a lone surrogate (a valid JSON escape) has no UTF-8 form; RE2 reads it as invalid bytes that nothing matches
    return text.encode("utf-8", "surrogatepass")
