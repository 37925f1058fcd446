"""The vocabulary every rule speaks: severities, categories, findings, fixes and the Rule base class.

Rules are pure: they read a `RepoSnapshot` and yield `Finding`s. Code, name, category and default severity
always come from the rule class itself, so a finding can never claim to be something its rule is not.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hublint.rules.peft.config import peft_type
from hublint.rules.peft.methods import FAMILY_NOTES, foreign_format, method_names, method_of

if TYPE_CHECKING:
    from hublint.rules.snapshot import RepoSnapshot


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 1, "warning": 2, "error": 3}[self.value]


class Category(str, enum.Enum):
    VOCAB = "vocab"
    TOKENIZER = "tokenizer"
    RANK = "rank"
    SHAPE = "shape"
    INTEGRITY = "integrity"
    SECURITY = "security"
    PROVENANCE = "provenance"
    SERVING = "serving"
    COMPAT = "compat"
    METADATA = "metadata"


class BotAction(str, enum.Enum):
    """What the Hub bot does with a rule's findings (the operator may change it per rule: `[tool.hublint.bot]`)."""

    DISCUSS = "discuss"  # loading or generation breaks for the adapter's users: worth one discussion
    PR = "pr"  # a file edit fixes it and the right value can be verified: a pull request, never a discussion
    REPORT = "report"  # the dashboard and the CLI only


class Need(str, enum.Enum):
    """What a rule reads, so the fetchers read only the small files that the enabled rules use."""

    CONFIG = "config"  # adapter_config.json
    WEIGHTS = "weights"  # safetensors headers of the adapter
    TOKENIZER = "tokenizer"  # tokenizer metadata of the adapter repo
    CARD = "card"  # README front matter
    BASE = "base"  # base-model facts: config, shapes, parameter count, tokenizer


@dataclass(frozen=True)
class LoadRecipe:
    """What a working loading program has to do. `bot/` turns it into Python through templates/loading."""

    base_model: str
    adapter: str
    adapter_revision: str | None = None
    base_revision: str | None = None
    resize_embeddings_to: int | None = None
    tokenizer_size: int | None = None  # len(tokenizer) of the tokenizer the program loads, when known
    tokenizer_from_adapter: bool = False
    auto_class: str = "AutoModelForCausalLM"  # the transformers class for the adapter's task_type
    trust_remote_code: bool = False  # the base ships its own modelling code (config.json `auto_map`)
    adapter_subfolder: str | None = None  # one of several adapters in the repo: PEFT's `subfolder=`
    num_labels: int | None = None  # rows of the saved classification head, when the Auto class must be told
    task_type_override: str | None = None  # load with this task_type instead of the config's unusable one


@dataclass(frozen=True)
class Fix:
    summary: str
    recipe: LoadRecipe | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    name: str
    category: Category
    severity: Severity
    message: str
    file: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    fix: Fix | None = None


class Rule:
    """Base class of every rule. A subclass sets the class attributes and implements `check`.

    `options` holds the rule's thresholds with their defaults; configuration may override them by name.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[Category]
    severity: ClassVar[Severity]
    needs: ClassVar[frozenset[Need]] = frozenset({Need.CONFIG, Need.WEIGHTS})
    options: ClassVar[Mapping[str, Any]] = {}
    fixable: ClassVar[bool] = False
    # What the bot does with a finding; most findings are for the report only, so that is the default.
    bot_action: ClassVar[BotAction] = BotAction.REPORT
    # The PEFT methods (peft_type values) the rule can judge; None: every method.
    peft_types: ClassVar[frozenset[str] | None] = None
    # With Need.WEIGHTS: the rule judges saved tensors, so it is skipped when no tensor header could be read.
    reads_tensors: ClassVar[bool] = True
    # With Need.BASE: the rule compares against the base's tensor shapes, so it is skipped when they are unknown.
    reads_base_shapes: ClassVar[bool] = False
    # Runs on adapter_config.json files of other tools (MLX-LM, Tunix), which every other rule leaves alone.
    judges_foreign_configs: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        unknown = set(options or {}) - set(self.options)
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"{self.code} has no option {', '.join(sorted(unknown))} (options: {known})")
        self.settings: dict[str, Any] = {**self.options, **(options or {})}

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(
        self,
        message: str,
        *,
        file: str | None = None,
        details: Mapping[str, Any] | None = None,
        fix: Fix | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule=self.code,
            name=self.name,
            category=self.category,
            severity=severity or self.severity,
            message=message,
            file=file,
            details=strict_json(dict(details or {})),
            fix=fix,
        )

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        """Why this rule cannot judge the snapshot (e.g. the base model's facts are missing), or None.
        Every rule that does not run says why: a skip is reported, never a silent nothing."""
        if Need.CONFIG in self.needs and snapshot.adapter_config is None:
            return "needs adapter_config.json, which is missing or unparsable"
        foreign = foreign_format(snapshot.config)
        if foreign and not self.judges_foreign_configs:
            return f"adapter_config.json was written by {foreign}, not PEFT, so no PEFT rule applies"
        method_reason = self._method_skip_reason(snapshot)
        if method_reason:
            return method_reason
        if Need.WEIGHTS in self.needs and snapshot.weights_unsupported:  # e.g. a legacy .bin: not read at all
            return f"needs the adapter's tensor headers: {snapshot.weights_unsupported}"
        if Need.WEIGHTS in self.needs and self.reads_tensors and not any(w.tensors for w in snapshot.weights):
            return f"needs the adapter's tensor headers: {_no_tensors(snapshot)}"
        base = snapshot.base
        if Need.BASE in self.needs and (base is None or not base.available):
            detail = f" ({base.model_id}: {base.message or base.status})" if base else ""
            return "needs the base model's facts, which could not be read" + detail
        if Need.BASE in self.needs and self.reads_base_shapes and base is not None and not base.shapes:
            why = base.shapes_unavailable or f"{base.model_id} has no readable safetensors header"
            return f"needs the base model's tensor shapes: {why}"
        return None

    def _method_skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        """Why the rule cannot judge this PEFT method: it covers others, or PEFT does not know the peft_type."""
        if self.peft_types is None:
            return None
        kind = peft_type(snapshot.config)
        if kind is None:
            return f"applies to {method_names(self.peft_types)} adapters only; this one is of no peft_type"
        method = method_of(snapshot.config)
        if method is None:
            return f"peft_type {kind!r} is unknown to PEFT (HL605), so its tensors cannot be interpreted"
        if kind in self.peft_types:
            return None
        note = FAMILY_NOTES[method.family]
        return f"applies to {method_names(self.peft_types)} adapters only; this one is {kind} ({note})"


def _no_tensors(snapshot: RepoSnapshot) -> str:
    """Why no tensor header could be read, for people."""
    broken = [w for w in snapshot.weights if w.error]
    if broken:
        return f"{broken[0].path} cannot be parsed ({broken[0].error})"
    if snapshot.weights:
        return f"{snapshot.weights[0].path} holds no tensors"
    pickles = sorted(path for path in snapshot.files if path.startswith("adapter_model") and path.endswith(".bin"))
    if pickles:
        return f"the adapter ships only {pickles[0]}, a pickle, and no safetensors file"
    return "the repo has no adapter weights"


def strict_json(value: Any) -> Any:
    """`value` with every NaN and infinity (a config may hold them; JSON cannot) replaced by its text, e.g. "nan",
    so a finding's details are strict JSON wherever they go: reports, SARIF, the crawl store."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value
