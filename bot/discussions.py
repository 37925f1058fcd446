"""The Hub bot: at most one polite discussion per broken repo, with loading code that works.

It follows the bot etiquette of DESIGN.md and the prior bots in research/hub.md §5. Per repo: the owner's wishes
first (`hublint: false` in the card, `bot = false` in a `.hublint.toml`), then the lint, then the repo's
discussions. The bot's own discussions are found by author, the token's user; a hidden fingerprint marker in its
posts says whether the open one is still current. Caps and dry runs are decided here; posting happens only with
`BotOptions.post`.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hublint import __version__
from hublint.check import Checker
from hublint.config import HUBLINT_TOML, ConfigError, FileConfig, merge, parse_config
from hublint.errors import DiscussionsDisabled, HubError
from hublint.hub import Discussion, HubDiscussions
from hublint.lint import selected_rules
from hublint.render import discussion
from hublint.render.discussion import TITLE_PREFIX
from hublint.rules.model import Finding, Severity
from hublint.snapshots import RepoReader

_FINGERPRINT = re.compile(r"<!-- hublint:fingerprint=([0-9a-f]{64}) -->")
_FINDINGS = re.compile(r"<!-- hublint:findings=([A-Z]+\d+\.[0-9a-f]{12}(?:,[A-Z]+\d+\.[0-9a-f]{12})*)? -->")
_OPT_OUT_VALUES = (False, "false", "off", "no")


class Action(str, enum.Enum):
    NOTHING = "nothing"  # no findings to report, or the bot's discussion is current
    SKIP = "skip"  # the owner opted out or closed the bot's discussion, discussions are off, or a cap was reached
    OPEN = "open"
    COMMENT = "comment"
    ERROR = "error"  # an operational failure (token, network, rate limit): the next run tries again


@dataclass(frozen=True)
class Report:
    """What the bot would do (a dry run) or did (`posted`) for one repo."""

    repo_id: str
    action: Action
    reason: str = ""  # one line, for NOTHING, SKIP and ERROR
    title: str | None = None  # OPEN
    body: str | None = None  # OPEN and COMMENT
    discussion: int | None = None  # the discussion commented on, or the one opened
    url: str | None = None  # once posted
    posted: bool = False
    fingerprint: str | None = None  # the digest of the findings that call for a post (a store's dedup key)


@dataclass(frozen=True)
class BotOptions:
    post: bool = False
    min_severity: Severity = Severity.ERROR
    max_new: int = 10  # new discussions per run, over all repos
    max_per_owner: int = 1  # new discussions per owner per run: org members all get notified


@dataclass(frozen=True)
class RepoWishes:
    """What a repo's owner told hublint: an opt-out, and their own `.hublint.toml` (select, ignore, severity)."""

    opt_out: str | None = None
    config: FileConfig = field(default_factory=FileConfig)


@dataclass(frozen=True)
class Fingerprint:
    """Which findings a post was about: a digest for equality, per-finding keys (`HL101.<12 hex>`) for the diff."""

    digest: str
    keys: frozenset[str]

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> Fingerprint:
        digest = hashlib.sha256("\n".join(sorted(_identity(f) for f in findings)).encode()).hexdigest()
        return cls(digest, frozenset(finding_key(f) for f in findings))

    @classmethod
    def latest_in(cls, discussion: Discussion) -> Fingerprint | None:
        """The newest marker among the discussion author's own messages: anyone else's could be forged."""
        for message in reversed(discussion.messages):
            found = _FINGERPRINT.search(message.text) if message.author == discussion.author else None
            if found:
                listed = _FINDINGS.search(message.text)
                keys = listed.group(1).split(",") if listed and listed.group(1) else []
                return cls(found.group(1), frozenset(keys))
        return None

    def markers(self) -> str:
        return f"<!-- hublint:fingerprint={self.digest} -->\n<!-- hublint:findings={','.join(sorted(self.keys))} -->"


def finding_key(finding: Finding) -> str:
    return f"{finding.rule}.{hashlib.sha256(_identity(finding).encode()).hexdigest()[:12]}"


def _identity(finding: Finding) -> str:
    """(rule, file, stable details) as canonical JSON."""
    return json.dumps([finding.rule, finding.file or "", _stable(finding.details)], sort_keys=True, default=str)


def _stable(value: Any) -> Any:
    """The numbers of a finding's details (rows, counts, ranks, shapes): the facts of the repo's files.

    Strings are left out: they carry hublint's and the Hub's wording (reasons, server versions), and a reworded
    message must not look like a change to the owner.
    """
    if isinstance(value, Mapping):
        return {str(k): _stable(v) for k, v in value.items() if not isinstance(v, str)}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_stable(v) for v in value if not isinstance(v, str)]
        return items if isinstance(value, (list, tuple)) else sorted(items, key=repr)
    return value


def repo_wishes(repo: RepoReader) -> RepoWishes:
    """Read the card's `hublint:` key and the repo's `.hublint.toml`. An unreadable config keeps the bot away too:
    when in doubt, a bot stays silent."""
    card, _ = repo.card()
    value = (card or {}).get("hublint", True)
    if (value.lower() if isinstance(value, str) else value) in _OPT_OUT_VALUES:
        return RepoWishes("the model card says `hublint: false`")
    if HUBLINT_TOML not in repo.files:
        return RepoWishes()
    try:
        config = parse_config(repo.read(HUBLINT_TOML).decode("utf-8", "replace"), Path(HUBLINT_TOML))
    except ConfigError as exc:
        return RepoWishes(f"its {HUBLINT_TOML} cannot be used ({exc})")
    assert config is not None  # only pyproject.toml can lack a hublint table
    return RepoWishes(None if config.bot else f"its {HUBLINT_TOML} says `bot = false`", config)


def as_owner_configured(findings: Sequence[Finding], config: FileConfig) -> list[Finding]:
    """The findings with the owner's own select, ignore and severity applied: an ignored rule is never posted."""
    enabled = {rule.code for rule in selected_rules(merge(config))}
    chosen = [replace(f, severity=config.severity.get(f.rule, f.severity)) for f in findings if f.rule in enabled]
    return sorted(chosen, key=lambda f: (-f.severity.rank, f.rule, f.file or ""))


class DiscussionBot:
    """Plans, and with `options.post` carries out, one action per repo; the caps hold for the bot's lifetime (a run).

    `handle` does everything for a repo id. A crawler that has already read and linted a repo calls the steps
    itself: `repo_wishes`, `as_owner_configured`, `plan`, `carry_out`.
    """

    def __init__(self, checker: Checker, options: BotOptions | None = None) -> None:
        self.checker = checker
        self.options = options or BotOptions()
        self.hub = HubDiscussions(checker.client)
        self._opened = 0
        self._per_owner: Counter[str] = Counter()

    def handle(self, repo_id: str) -> Report:
        """Everything for one repo. A Hub failure becomes an ERROR report, so the next repo goes on."""
        try:
            repo = self.checker.client.open_repo(repo_id)
            wishes = repo_wishes(repo)
            if wishes.opt_out:
                return Report(repo_id, Action.SKIP, wishes.opt_out)
            # Every adapter in the repo (root, checkpoint-500/, adapters/<name>/): one discussion for them all.
            results = self.checker.lint_adapters(repo)
            failed = next((result.error for result in results if result.error), None)
            if failed:
                return Report(repo_id, Action.ERROR, failed)
            findings = [finding for result in results for finding in result.findings]
            return self.carry_out(self.plan(repo_id, as_owner_configured(findings, wishes.config)))
        except HubError as exc:
            return Report(repo_id, Action.ERROR, str(exc))

    def plan(self, repo_id: str, findings: Sequence[Finding]) -> Report:
        """What to do about a repo's findings (sorted, most severe first), given its discussions.

        Only findings at or above `min_severity` call for a post and make up its fingerprint; the post lists the
        others briefly.
        """
        urgent = [f for f in findings if f.severity.rank >= self.options.min_severity.rank]
        if not urgent:
            return Report(repo_id, Action.NOTHING, f"no findings at or above {self.options.min_severity.value}")
        current = Fingerprint.of(urgent)
        own = self._own_discussions(repo_id)
        if not own:
            others = [f for f in findings if f is not urgent[0]]
            body = discussion.body(urgent[0], others, markers=current.markers(), version=__version__)
            title = discussion.title(urgent[0])
            return Report(repo_id, Action.OPEN, title=title, body=body, fingerprint=current.digest)
        closed = [d for d in own if not d.is_open]
        if closed:
            return Report(repo_id, Action.SKIP, f"its owner closed hublint's discussion #{closed[0].num}")
        latest = self.hub.details(repo_id, max(d.num for d in own))
        posted = Fingerprint.latest_in(latest)
        if posted is None:
            return Report(repo_id, Action.SKIP, f"hublint's account opened #{latest.num} without a hublint marker")
        if posted.digest == current.digest:
            reason = f"discussion #{latest.num} is up to date"
            return Report(repo_id, Action.NOTHING, reason, discussion=latest.num, fingerprint=current.digest)
        body = update_body(posted, current, urgent)
        return Report(repo_id, Action.COMMENT, body=body, discussion=latest.num, fingerprint=current.digest)

    def carry_out(self, report: Report) -> Report:
        """Apply the caps to a new discussion; post when asked. Caps count posts that happened (or would, dry)."""
        if report.action is Action.OPEN:
            capped = self._cap(report.repo_id)
            if capped:
                return Report(report.repo_id, Action.SKIP, capped)
        if self.options.post and report.action in (Action.OPEN, Action.COMMENT):
            try:
                report = self._post(report)
            except HubError as exc:
                action = Action.SKIP if isinstance(exc, DiscussionsDisabled) else Action.ERROR
                return Report(report.repo_id, action, str(exc))
        if report.action is Action.OPEN:
            self._opened += 1
            self._per_owner[_owner(report.repo_id)] += 1
        return report

    def _post(self, report: Report) -> Report:
        assert report.body is not None
        if report.action is Action.OPEN:
            assert report.title is not None
            num = self.hub.create(report.repo_id, report.title, report.body)
        else:
            assert report.discussion is not None
            num = report.discussion
            self.hub.comment(report.repo_id, num, report.body)
        return replace(report, discussion=num, url=self.hub.url(report.repo_id, num), posted=True)

    def _cap(self, repo_id: str) -> str | None:
        if self._opened >= self.options.max_new:
            return f"the cap of {self.options.max_new} new discussion(s) per run is reached"
        owner = _owner(repo_id)
        if self._per_owner[owner] >= self.options.max_per_owner:
            return f"the cap of {self.options.max_per_owner} new discussion(s) per owner per run is reached for {owner}"
        return None

    def _own_discussions(self, repo_id: str) -> list[Discussion]:
        """The bot's discussions (and pull requests) in the repo: by author when the token names the bot.

        Without a token (a dry run) the account is unknown, so `[bot]` threads are read for a hublint marker.
        """
        me = self.hub.whoami()
        if me is not None:
            return self.hub.list(repo_id, author=me)
        candidates = [d for d in self.hub.list(repo_id) if d.title.startswith(TITLE_PREFIX)]
        return [d for d in candidates if Fingerprint.latest_in(self.hub.details(repo_id, d.num))]


def update_body(posted: Fingerprint, current: Fingerprint, findings: Sequence[Finding]) -> str:
    """The comment on what changed since `posted`: which findings are new, which changed, which rules are fixed."""
    fresh = [f for f in findings if finding_key(f) not in posted.keys]
    gone_rules = {key.split(".", 1)[0] for key in posted.keys - current.keys}
    changed = [f for f in fresh if f.rule in gone_rules]
    fixed = sorted(gone_rules - {f.rule for f in fresh})
    return discussion.update(fresh, changed, fixed, markers=current.markers(), version=__version__)


def _owner(repo_id: str) -> str:
    return repo_id.split("/", 1)[0]
