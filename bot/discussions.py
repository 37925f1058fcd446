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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hublint import __version__
from hublint.check import Checker
from hublint.commands import Command, answer_markers, ignored_rules, pending_commands
from hublint.config import HUBLINT_TOML, ConfigError, FileConfig, merge, parse_config
from hublint.errors import DiscussionsDisabled, HubError
from hublint.hub import Discussion, HubDiscussions
from hublint.lint import LintResult, selected_rules
from hublint.policy import DISCUSSION, PULL_REQUEST, REPORT_ONLY, BotPolicy
from hublint.pull_requests import ROOT_FILES, FixPlanner
from hublint.render import discussion, pull_request
from hublint.render.discussion import TITLE_PREFIX
from hublint.render.pull_request import PR_MARKER
from hublint.rules.model import BotAction, Finding, Severity
from hublint.rules.snapshot import RepoSnapshot
from hublint.snapshots import RepoReader

_FINGERPRINT = re.compile(r"<!-- hublint:fingerprint=([0-9a-f]{64}) -->")
_FINDINGS = re.compile(r"<!-- hublint:findings=([A-Z]+\d+\.[0-9a-f]{12}(?:,[A-Z]+\d+\.[0-9a-f]{12})*)? -->")
_OPT_OUT_VALUES = (False, "false", "off", "no")


class Action(str, enum.Enum):
    NOTHING = "nothing"  # no findings to report, or the bot's discussion is current
    SKIP = "skip"  # the owner opted out or closed the bot's discussion, discussions are off, or a cap was reached
    OPEN = "open"
    COMMENT = "comment"
    PULL_REQUEST = "pull_request"  # a fix pull request (one per repo, ever)
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
    rules: tuple[str, ...] = ()  # OPEN, COMMENT, PULL_REQUEST: the rules it is about
    files: Mapping[str, bytes] | None = None  # PULL_REQUEST: path -> new content
    diff: str | None = None  # PULL_REQUEST: what it changes, as a unified diff


@dataclass(frozen=True)
class ThreadState:
    """What the bot read in a repo's community tab before acting: its own threads, the owner's commands."""

    threads: tuple[Discussion, ...]
    thread: int | None  # the bot's newest discussion (not a pull request), where owners give commands
    commands: tuple[Command, ...]
    findings: tuple[Finding, ...]  # the lint's findings without the rules the owner told the bot to ignore
    ignored: frozenset[str] = frozenset()  # those rules: answered ignores, and ones asked for in this run's commands


@dataclass(frozen=True)
class RepoOutcome:
    """Everything the bot did (or would do) in one repo: the discussion, a pull request, answers to commands."""

    repo_id: str
    reports: tuple[Report, ...]
    finding_rules: tuple[str, ...] = ()  # every rule with a finding, after the owner's config and ignores

    @property
    def discussion(self) -> Report:
        return self.reports[0]

    def volume(self) -> dict[str, tuple[str, ...]]:
        """Each finding's rule under the one kind of action it got: discussion, pull request or report only."""
        acted = {Action.OPEN: DISCUSSION, Action.PULL_REQUEST: PULL_REQUEST}
        kinds: dict[str, set[str]] = {}
        for report in self.reports:
            if report.action in acted:
                kinds.setdefault(acted[report.action], set()).update(report.rules)
        covered = set().union(*kinds.values()) if kinds else set()
        rest = set(self.finding_rules) - covered
        if rest:
            kinds[REPORT_ONLY] = rest
        return {kind: tuple(sorted(codes)) for kind, codes in kinds.items()}


@dataclass(frozen=True)
class BotOptions:
    post: bool = False
    min_severity: Severity = Severity.ERROR
    max_new: int = 10  # new discussions per run, over all repos
    max_per_owner: int = 1  # new discussions per owner per run: org members all get notified
    policy: BotPolicy = field(default_factory=BotPolicy)  # what each rule's findings get: discuss, pr, report


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
        self._repos: set[str] = set()  # repos with a new discussion or pull request this run
        self._members: dict[str, frozenset[str]] = {}  # org -> its members, read once a run (on a command only)

    def handle(self, repo_id: str) -> Report:
        """The discussion part of `handle_repo`."""
        return self.handle_repo(repo_id).discussion

    def handle_repo(self, repo_id: str) -> RepoOutcome:
        """Everything for one repo. A Hub failure becomes an ERROR report, so the next repo goes on."""
        try:
            repo = self.checker.client.open_repo(repo_id)
            wishes = repo_wishes(repo)
            if wishes.opt_out:
                return RepoOutcome(repo_id, (Report(repo_id, Action.SKIP, wishes.opt_out),))
            # Every adapter in the repo (root, checkpoint-500/, adapters/<name>/): one discussion for them all.
            results = self.checker.lint_adapters(repo)
            failed = next((result.error for result in results if result.error), None)
            if failed:
                return RepoOutcome(repo_id, (Report(repo_id, Action.ERROR, failed),))
            findings = [finding for result in results for finding in result.findings]
            state = self.read_threads(repo_id, as_owner_configured(findings, wishes.config))
            discussion = self.carry_out(self.plan(repo_id, state.findings, state.threads))
            return self.follow_up(repo, root_snapshot(results), state, discussion)
        except HubError as exc:
            return RepoOutcome(repo_id, (Report(repo_id, Action.ERROR, str(exc)),))

    def read_threads(self, repo_id: str, findings: Sequence[Finding]) -> ThreadState:
        """The bot's threads in the repo, the owner's pending commands, and the findings minus the owner's ignores."""
        threads = self._own_threads(repo_id)
        thread = max((t for t in threads if not _is_pull_request(t)), key=lambda t: t.num, default=None)
        commands = pending_commands(thread, self.may_command(repo_id)) if thread else []
        ignored = ignored_rules(thread) | {code for c in commands if c.verb == "ignore" for code in c.codes}
        kept = [f for f in findings if f.rule not in ignored]
        return ThreadState(tuple(threads), thread.num if thread else None, tuple(commands), tuple(kept), ignored)

    def follow_up(
        self, repo: RepoReader, snapshot: RepoSnapshot | None, state: ThreadState, discussion: Report
    ) -> RepoOutcome:
        """After the discussion step: the fix pull request (or the one the owner asked for), then one answer to each
        owner command. `snapshot`: the repo's root adapter, whose files a pull request edits (None: no PR)."""
        reports = [discussion]
        asked = any(c.verb == "pr" for c in state.commands)
        pull = None
        if snapshot is not None:
            pull = self.plan_pull_request(repo, snapshot, state.findings, state.threads, asked=asked)
        if pull is not None:
            pull = self.carry_out(pull)
            reports.append(pull)
        for command in state.commands:
            assert state.thread is not None
            reports.append(self.carry_out(self._answer(discussion.repo_id, state.thread, command, pull)))
        return RepoOutcome(discussion.repo_id, tuple(reports), tuple(sorted({f.rule for f in state.findings})))

    def plan(self, repo_id: str, findings: Sequence[Finding], threads: Sequence[Discussion] | None = None) -> Report:
        """What to do about a repo's findings (sorted, most severe first), given its discussions.

        Only findings whose rule's bot action is `discuss` and at or above `min_severity` call for a post and make
        up its fingerprint; the post lists the others briefly. `threads`: the bot's own, if already read.
        """
        policy = self.options.policy
        urgent = [
            f for f in policy.select(findings, BotAction.DISCUSS) if f.severity.rank >= self.options.min_severity.rank
        ]
        if not urgent:
            reason = f"no findings at or above {self.options.min_severity.value} that break loading or generation"
            return Report(repo_id, Action.NOTHING, reason)
        current = Fingerprint.of(urgent)
        rules_of = tuple(sorted({f.rule for f in urgent}))
        threads = self._own_threads(repo_id) if threads is None else threads
        own = [t for t in threads if not _is_pull_request(t)]
        if not own:
            others = [f for f in findings if f is not urgent[0]]
            body = discussion.body(urgent[0], others, markers=current.markers(), version=__version__)
            title = discussion.title(urgent[0])
            return Report(repo_id, Action.OPEN, title=title, body=body, fingerprint=current.digest, rules=rules_of)
        closed = [d for d in own if not d.is_open]
        if closed:
            return Report(repo_id, Action.SKIP, f"its owner closed hublint's discussion #{closed[0].num}")
        latest = max(own, key=lambda d: d.num)
        posted = Fingerprint.latest_in(latest)
        if posted is None:
            return Report(repo_id, Action.SKIP, f"hublint's account opened #{latest.num} without a hublint marker")
        if posted.digest == current.digest:
            reason = f"discussion #{latest.num} is up to date"
            return Report(repo_id, Action.NOTHING, reason, discussion=latest.num, fingerprint=current.digest)
        body = update_body(posted, current, urgent)
        return Report(
            repo_id, Action.COMMENT, body=body, discussion=latest.num, fingerprint=current.digest, rules=rules_of
        )

    def plan_pull_request(
        self,
        repo: RepoReader,
        snapshot: RepoSnapshot,
        findings: Sequence[Finding],
        threads: Sequence[Discussion],
        *,
        asked: bool = False,
    ) -> Report | None:
        """A fix pull request for the `pr` findings (or, `asked` by the owner, a "How to load" card section);
        None when there is nothing to fix. One pull request per repo, ever."""
        repo_id = snapshot.hub_id or snapshot.target
        # Only the root adapter's files are edited: a subfolder adapter's finding names `<folder>/<file>`.
        metadata = [f for f in self.options.policy.select(findings, BotAction.PR) if f.file in ROOT_FILES]
        if not metadata and not asked:
            return None
        opened = [t for t in threads if _is_pull_request(t)]
        if opened:
            return Report(repo_id, Action.SKIP, f"hublint opened pull request #{opened[0].num} here already")
        planner = FixPlanner(self.checker.bases)
        if asked:
            plan, reason = planner.card_section(repo, snapshot, findings, metadata)
        else:
            plan, reason = planner.metadata_fix(repo, snapshot, metadata)
        if plan is None:
            return Report(repo_id, Action.NOTHING, f"no pull request: {reason}")
        fingerprint = Fingerprint.of(metadata or findings)
        return Report(
            repo_id,
            Action.PULL_REQUEST,
            title=plan.title,
            body=f"{plan.body}\n{fingerprint.markers()}",
            fingerprint=fingerprint.digest,
            rules=plan.rules,
            files=plan.files,
            diff=plan.diff,
        )

    def _answer(self, repo_id: str, num: int, command: Command, pull: Report | None) -> Report:
        """The bot's one reply to an owner's command, in the thread."""
        planned = pull is not None and pull.action is Action.PULL_REQUEST
        text = pull_request.command_reply(
            verb=command.verb,
            author=command.author,
            codes=command.codes,
            pull=pull.discussion if planned and pull else None,
            planned=planned,
            reason=pull.reason if pull and not planned else "no pull request was planned",
            markers=answer_markers(command),
        )
        return Report(repo_id, Action.COMMENT, body=text, discussion=num, rules=command.codes)

    def may_command(self, repo_id: str) -> Callable[[str], bool]:
        """Who may command the bot here: the repo's owner, or a member of the organization that owns it."""
        owner = _owner(repo_id)

        def may_command(user: str) -> bool:
            if user == owner:
                return True
            if owner not in self._members:
                self._members[owner] = self.hub.members(owner)
            return user in self._members[owner]

        return may_command

    def carry_out(self, report: Report) -> Report:
        """Apply the caps to a new discussion; post when asked. Caps count posts that happened (or would, dry)."""
        if report.action in (Action.OPEN, Action.PULL_REQUEST):
            capped = self._cap(report.repo_id)
            if capped:
                return Report(report.repo_id, Action.SKIP, capped)
        if self.options.post and report.action in (Action.OPEN, Action.COMMENT, Action.PULL_REQUEST):
            try:
                report = self._post(report)
            except HubError as exc:
                action = Action.SKIP if isinstance(exc, DiscussionsDisabled) else Action.ERROR
                return Report(report.repo_id, action, str(exc))
        if report.action in (Action.OPEN, Action.PULL_REQUEST):
            self._opened += 1
            if report.repo_id not in self._repos:  # a discussion and a pull request in one repo count once
                self._per_owner[_owner(report.repo_id)] += 1
            self._repos.add(report.repo_id)
        return report

    def _post(self, report: Report) -> Report:
        assert report.body is not None
        if report.action is Action.PULL_REQUEST:
            assert report.title is not None and report.files is not None
            num = self.hub.open_pull_request(report.repo_id, report.title, report.body, report.files)
        elif report.action is Action.OPEN:
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
        if repo_id not in self._repos and self._per_owner[owner] >= self.options.max_per_owner:
            return f"the cap of {self.options.max_per_owner} new discussion(s) per owner per run is reached for {owner}"
        return None

    def _own_threads(self, repo_id: str) -> list[Discussion]:
        """The bot's discussions and pull requests in the repo, with their messages: by author when the token
        names the bot. Without a token (a dry run) the account is unknown, so `[bot]` threads are read for a
        hublint marker."""
        me = self.hub.whoami()
        listed = self.hub.list(repo_id, author=me) if me else self.hub.list(repo_id)
        if me is None:
            listed = [d for d in listed if d.title.startswith(TITLE_PREFIX)]
        threads = [self.hub.details(repo_id, d.num) for d in listed]
        return threads if me else [t for t in threads if Fingerprint.latest_in(t) or _is_pull_request(t)]


def root_snapshot(results: Sequence[LintResult]) -> RepoSnapshot | None:
    """The adapter at the repo's root: a metadata fix edits the root adapter_config.json and README.md."""
    return next((r.snapshot for r in results if r.subfolder is None and r.snapshot is not None), None)


def _is_pull_request(thread: Discussion) -> bool:
    """A thread whose opening post (by its author) is a hublint pull request description."""
    return bool(thread.messages) and thread.messages[0].author == thread.author and PR_MARKER in thread.messages[0].text


def update_body(posted: Fingerprint, current: Fingerprint, findings: Sequence[Finding]) -> str:
    """The comment on what changed since `posted`: which findings are new, which changed, which rules are fixed."""
    fresh = [f for f in findings if finding_key(f) not in posted.keys]
    gone_rules = {key.split(".", 1)[0] for key in posted.keys - current.keys}
    changed = [f for f in fresh if f.rule in gone_rules]
    fixed = sorted(gone_rules - {f.rule for f in fresh})
    return discussion.update(fresh, changed, fixed, markers=current.markers(), version=__version__)


def _owner(repo_id: str) -> str:
    return repo_id.split("/", 1)[0]
