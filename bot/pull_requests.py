"""Fix pull requests: what the bot would change in a repo, and only when it knows the right value.

A metadata fix (rules whose bot action is `pr`: HL402, HL404) sets `base_model_name_or_path` in adapter_config.json
and `base_model` in the README front matter to one Hub id, and only when that id is established (the repo names it:
a Hub cache path, the tail of a local path, the card) and verified: the base exists and its tensor shapes fit the
adapter (HL301 and HL302 find nothing against it). An owner who asks (`@bot pr`) gets a "How to load" section in
the model card with the loading code, verified the same way, plus the metadata fix when there is one.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from hublint.errors import HubError
from hublint.fixes import (
    BASE_KEY,
    EditError,
    add_card_section,
    base_candidates,
    set_card_base,
    set_config_base,
    verified_base,
)
from hublint.render import pull_request as render
from hublint.rules.model import Finding
from hublint.rules.recipes import load_recipe
from hublint.rules.shape.hl301_adapter_base_shape_mismatch import AdapterBaseShapeMismatch
from hublint.rules.shape.hl302_target_module_not_in_base import TargetModuleNotInBase
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot
from hublint.snapshots import BaseFactsSource, RepoReader

README = "README.md"
CARD_HEADING = "How to load"
ROOT_FILES = frozenset({ADAPTER_CONFIG, README})  # the files a fix pull request may edit


@dataclass(frozen=True)
class PullRequestPlan:
    title: str
    body: str  # without the fingerprint markers: the caller adds them
    files: dict[str, bytes]  # path -> the whole new content
    rules: tuple[str, ...]  # the findings it fixes
    base_model: str | None  # the verified id it writes, if any
    diff: str = ""  # unified diff of every edited file, for a dry run


@dataclass
class FileEdits:
    """Files as they were (None: absent) and as the pull request writes them."""

    original: dict[str, str | None] = field(default_factory=dict)
    new: dict[str, bytes] = field(default_factory=dict)

    def set(self, path: str, before: str | None, after: str) -> None:
        self.original.setdefault(path, before)
        if after != self.original[path]:
            self.new[path] = after.encode("utf-8")

    def diff(self) -> str:
        return "".join(
            "".join(
                difflib.unified_diff(
                    (self.original[path] or "").splitlines(keepends=True),
                    self.new[path].decode("utf-8").splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}",
                    n=1,
                )
            )
            for path in sorted(self.new)
        )


@dataclass(frozen=True)
class FixPlanner:
    """Plans pull requests for one repo, reading base-model facts from `bases` (cached, shared with the lint)."""

    bases: BaseFactsSource

    def metadata_fix(
        self, repo: RepoReader, snapshot: RepoSnapshot, findings: Sequence[Finding]
    ) -> tuple[PullRequestPlan | None, str]:
        """The PR that fixes `findings` (metadata rules), or None and why it cannot be proposed."""
        if not findings:
            return None, "no metadata finding"
        base, reason = self.verified_base(snapshot)
        if base is None:
            return None, reason
        edits = self._metadata_edits(repo, base)
        if not edits.new:
            return None, f"the files already name {base}"
        rules = tuple(sorted({f.rule for f in findings}))
        body = render.body(base=base, reason=reason, edited=sorted(edits.new), rules=rules, section=None)
        return PullRequestPlan(render.METADATA_TITLE, body, edits.new, rules, base, edits.diff()), reason

    def card_section(
        self, repo: RepoReader, snapshot: RepoSnapshot, findings: Sequence[Finding], metadata: Sequence[Finding]
    ) -> tuple[PullRequestPlan | None, str]:
        """What an owner's `@bot pr` asks for: a "How to load" card section (and the metadata fix, if verified)."""
        base, reason = self.verified_base(snapshot)
        if base is None:
            return None, reason
        facts = self.bases.facts(base, None)
        probe = dataclasses.replace(snapshot, base=facts)
        recipe = next((f.fix.recipe for f in findings if f.fix and f.fix.recipe), None)
        recipe = dataclasses.replace(recipe, base_model=base) if recipe else load_recipe(probe, base)
        edits = self._metadata_edits(repo, base) if metadata else FileEdits()
        try:  # the card as the metadata fix left it, read once
            if README in edits.new:
                card = edits.new[README].decode("utf-8")
            else:
                card = edits.original[README] if README in edits.original else _text(repo, README)
        except EditError as exc:
            return None, str(exc)
        edits.set(README, card, add_card_section(card, CARD_HEADING, render.card_section(recipe)))  # keeps the original
        fixed = sorted({f.rule for f in metadata})
        body = render.body(base=base, reason=reason, edited=sorted(edits.new), rules=fixed, section=CARD_HEADING)
        rules = tuple(sorted({f.rule for f in (*findings, *metadata)}))
        return PullRequestPlan(render.CARD_TITLE, body, edits.new, rules, base, edits.diff()), reason

    def verified_base(self, snapshot: RepoSnapshot) -> tuple[str | None, str]:
        candidates = base_candidates(snapshot.config.get(BASE_KEY), snapshot.card)
        found, reason = verified_base(candidates, lambda model_id: self.fits(snapshot, model_id))
        return (found.model_id if found else None), reason

    def fits(self, snapshot: RepoSnapshot, model_id: str) -> bool:
        """The base exists and the adapter's tensors fit it: HL301 (layer shapes) and HL302 (module names) judge it
        and find nothing. A rule that cannot judge (another PEFT method, no shapes) means: not verified."""
        try:
            facts = self.bases.facts(model_id, None)
        except HubError:
            return False
        if not facts.available:
            return False
        probe = dataclasses.replace(snapshot, base=facts)
        for rule in (AdapterBaseShapeMismatch(), TargetModuleNotInBase()):
            if rule.skip_reason(probe) is not None or any(True for _ in rule.check(probe)):
                return False
        return True

    def _metadata_edits(self, repo: RepoReader, base: str) -> FileEdits:
        """The edited config and card; a file that already says `base` is left out. EditError: leave both alone."""
        edits = FileEdits()
        try:
            config = _text(repo, ADAPTER_CONFIG) or ""
            card = _text(repo, README)
            new_config, new_card = set_config_base(config, base), set_card_base(card, base)
        except EditError:
            return edits
        edits.set(ADAPTER_CONFIG, config, new_config)
        edits.set(README, card, new_card)
        return edits


def _text(repo: RepoReader, path: str) -> str | None:
    if path not in repo.files:
        return None
    try:
        return repo.read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise EditError(f"{path} is not UTF-8 text") from None
