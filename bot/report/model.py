"""What a report shows, read from the crawl store: one `RepoEntry` per repo plus the history behind the charts.

`report.json` is `Report.to_json()`: {"generated", "repos": [{"id", "owner", "revision", "status", "worst",
"base_model", "findings": [{"rule", "name", "category", "severity", "message", "file", "fix"}], "discussion":
{"num", "status", "opened"} | null, "acknowledged", "error", "history", "ignored_by_owner": [rule]}], "summary",
"rules", "trend", "discussions", "runs": [{"started", "finished", "linted", "failures", "requests",
"rate_limited", "requests_by_bucket", "volume"}]}. Times are ISO 8601 UTC strings. Keys are only ever added.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hublint import rules
from hublint.policy import KINDS
from hublint.store import Store, json_object

# A repo's status, worst first: the order of the overview's counts and of an owner's table.
STATUSES = ("error", "warning", "info", "clean", "failed", "pending", "skipped")
DAY = 86400.0


@dataclass(frozen=True)
class RepoEntry:
    id: str
    revision: str | None  # the linted revision (the listing's when not linted yet)
    status: str  # one of STATUSES
    findings: tuple[dict[str, Any], ...] = ()  # `hublint check --format json` finding objects
    base_model: str | None = None
    discussion: dict[str, Any] | None = None
    acknowledged: bool = False
    error: str | None = None  # why a lint failed or the repo was skipped
    history: tuple[dict[str, Any], ...] = ()  # every finding the repo ever had: rule, severity, first_seen, fixed
    ignored: tuple[str, ...] = ()  # rules the owner told the bot to ignore (`@<bot> ignore HLxxx`): still shown

    @property
    def owner(self) -> str:
        return self.id.partition("/")[0]

    @property
    def rules(self) -> list[str]:
        """The codes of its findings, each once, sorted."""
        return sorted({f["rule"] for f in self.findings})

    @property
    def broken(self) -> bool:
        return self.status == "error"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "revision": self.revision,
            "status": self.status,
            "worst": self.status if self.status in ("error", "warning", "info") else None,
            "base_model": self.base_model,
            "findings": list(self.findings),
            "discussion": self.discussion,
            "acknowledged": self.acknowledged,
            "error": self.error,
            "history": list(self.history),
            "ignored_by_owner": list(self.ignored),
        }


@dataclass(frozen=True)
class TrendPoint:
    day: str  # YYYY-MM-DD
    open: int  # findings open at the end of the day
    new: int
    fixed: int


@dataclass(frozen=True)
class Run:
    started: str
    finished: str | None
    linted: int
    failures: int
    requests: int
    rate_limited: int
    requests_by_bucket: dict[str, int]
    # What the bot did (or, dry, would do) in this run, by kind of action: {"discussion": {"repos": n, "rules":
    # {code: n}}, "pull request": …, "report only": …} (policy.Volume); empty when the run had discussions off.
    volume: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Report:
    generated: datetime
    repos: list[RepoEntry]
    trend: list[TrendPoint] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    discussions: dict[str, Any] = field(default_factory=lambda: _discussion_outcomes((), ()))

    def with_acknowledged(self, repo_ids: Set[str]) -> Report:
        """The same report with these repos (and only these) acknowledged."""
        repos = [dataclasses.replace(entry, acknowledged=entry.id in repo_ids) for entry in self.repos]
        return dataclasses.replace(self, repos=repos)

    @property
    def last_change(self) -> str | None:
        """The last day a finding appeared or was fixed (YYYY-MM-DD): the age of what the report says, which a
        crawl over unchanged repos leaves as it was."""
        return max((point.day for point in self.trend if point.new or point.fixed), default=None)

    def status_counts(self) -> dict[str, int]:
        counts = Counter(repo.status for repo in self.repos)
        return {status: counts[status] for status in STATUSES}

    def linted_count(self) -> int:
        """Repos with a complete lint, whatever it found."""
        counts = self.status_counts()
        return sum(counts[s] for s in ("error", "warning", "info", "clean"))

    def rule_counts(self) -> dict[str, int]:
        """Repos each rule fires on, every rule listed (zero too), in catalogue order."""
        counts = Counter(rule for repo in self.repos for rule in repo.rules)
        return {rule.code: counts[rule.code] for rule in rules.ALL_RULES}

    def by_owner(self) -> dict[str, list[RepoEntry]]:
        return _group(self.repos, lambda repo: [repo.owner])

    def by_rule(self) -> dict[str, list[RepoEntry]]:
        return _group(self.repos, lambda repo: repo.rules)

    def by_base(self) -> dict[str, list[RepoEntry]]:
        return _group(self.repos, lambda repo: [repo.base_model] if repo.base_model else [])

    def to_json(self) -> dict[str, Any]:
        return {
            "generated": _iso(self.generated.timestamp()),
            "summary": {"repos": len(self.repos), "statuses": self.status_counts()},
            "rules": self.rule_counts(),
            "repos": [repo.to_json() for repo in self.repos],
            "trend": [vars(point) for point in self.trend],
            "discussions": self.discussions,
            "runs": [vars(run) for run in self.runs],
        }


def load(store: Store, *, now: datetime | None = None, author: str | None = None) -> Report:
    """The whole report from the store; `author` keeps one owner's repos."""
    rows = store.report_repos()
    if author is not None:
        rows = [row for row in rows if row.id.partition("/")[0] == author]
    kept = {row.id for row in rows}
    history = [row for row in store.all_findings() if row.repo in kept]
    lives: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for life in history:
        lives[life.repo].append(
            {
                "rule": life.rule,
                "severity": life.severity,
                "first_seen": _day(life.first_seen_at),
                "fixed": _day(life.resolved_at) if life.resolved_at is not None else None,
            }
        )
    ignores = store.ignored_rules()
    entries = [_entry(row, tuple(lives.get(row.id, ())), ignores.get(row.id, frozenset())) for row in rows]
    events = [row for row in store.discussion_events() if row.repo in kept]
    return Report(
        generated=now or datetime.now(timezone.utc),
        repos=entries,
        trend=_trend(history),
        runs=[_run(row) for row in store.runs()] if author is None else [],
        discussions=_discussion_outcomes(events, history),
    )


def _entry(row: Any, history: tuple[dict[str, Any], ...], ignored: frozenset[str]) -> RepoEntry:
    result = json_object(row.result)
    findings = tuple(f for f in result.get("findings", []) if isinstance(f, dict))
    discussion = None
    if row.discussion_status is not None and row.discussion_status != "posting":
        discussion = {
            "num": row.discussion_num,
            "status": row.discussion_status,
            "opened": _iso(row.discussion_opened_at),
        }
    base = result.get("base_model")
    return RepoEntry(
        id=row.id,
        revision=row.linted_sha or row.sha,
        status=_status(row, findings),
        findings=findings,
        base_model=base if isinstance(base, str) else None,
        discussion=discussion,
        acknowledged=row.acknowledged_at is not None,
        error=row.last_error if row.result is None else None,
        history=history,
        ignored=tuple(sorted(ignored)),
    )


def _status(row: Any, findings: tuple[dict[str, Any], ...]) -> str:
    if row.result is None:
        return {"failed": "failed", "retry": "failed", "skipped": "skipped"}.get(row.status, "pending")
    severities = {f.get("severity") for f in findings}
    return next((s for s in ("error", "warning", "info") if s in severities), "clean")


def _trend(history: Iterable[Any]) -> list[TrendPoint]:
    """Findings open at the end of each day from the first finding to the last change, with new and fixed."""
    new: Counter[str] = Counter()
    fixed: Counter[str] = Counter()
    for row in history:
        new[_day(row.first_seen_at)] += 1
        if row.resolved_at is not None:
            fixed[_day(row.resolved_at)] += 1
    days = sorted(set(new) | set(fixed))
    points, open_count = [], 0
    for day in days:
        open_count += new[day] - fixed[day]
        points.append(TrendPoint(day, open_count, new[day], fixed[day]))
    return points


def _discussion_outcomes(events: Iterable[Any], history: Iterable[Any]) -> dict[str, Any]:
    """What became of the bot's discussions: fixed after it opened, closed without a fix, still open."""
    opened: dict[str, float] = {}
    closed: set[str] = set()
    for event in events:
        if event.status == "posting":
            continue
        opened.setdefault(event.repo, event.at)
        if event.status == "closed":
            closed.add(event.repo)
    fixed_at: dict[str, float] = {}
    still_open: set[str] = set()
    for row in history:
        if row.resolved_at is None:
            still_open.add(row.repo)
        elif row.repo in opened and row.resolved_at >= opened[row.repo]:
            fixed_at[row.repo] = max(fixed_at.get(row.repo, 0.0), row.resolved_at)
    fixed = {repo: at for repo, at in fixed_at.items() if repo not in still_open}
    days = [(at - opened[repo]) / DAY for repo, at in fixed.items()]
    return {
        "opened": len(opened),
        "fixed": len(fixed),
        "closed_without_fix": len(closed - set(fixed)),
        "open": len(set(opened) - set(fixed) - closed),
        "median_days_to_fix": round(statistics.median(days), 1) if days else None,
        "fix_days": sorted(round(d, 2) for d in days),
    }


def _run(row: Any) -> Run:
    buckets = json_object(row.requests_by_bucket)
    return Run(
        started=_iso(row.started_at) or "",
        finished=_iso(row.finished_at),
        linted=row.linted or 0,
        failures=row.failures or 0,
        requests=row.requests or 0,
        rate_limited=row.rate_limited or 0,
        requests_by_bucket={k: v for k, v in buckets.items() if isinstance(v, int)},
        volume=_volume(json_object(row.summary)),
    )


def _volume(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's bot volume as the crawl wrote it, only its well-formed counts kept (the store is not trusted); empty
    when the bot did not run (a summary from before `bot_step` counts as run when it counted anything)."""
    stored = summary.get("volume")
    if not isinstance(stored, dict):
        return {}
    entries = {kind: stored.get(kind) if isinstance(stored.get(kind), dict) else {} for kind in KINDS}
    ran = summary.get("bot_step")
    if ran is False or (ran is None and not any(_count(entry.get("repos")) for entry in entries.values())):
        return {}
    volume = {}
    for kind, entry in entries.items():
        per_rule = entry.get("rules") if isinstance(entry.get("rules"), dict) else {}
        rules_counted = {str(code): _count(n) for code, n in per_rule.items() if _count(n)}
        volume[kind] = {"repos": _count(entry.get("repos")), "rules": dict(sorted(rules_counted.items()))}
    return volume


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _group(entries: Iterable[RepoEntry], keys: Any) -> dict[str, list[RepoEntry]]:
    groups: dict[str, list[RepoEntry]] = defaultdict(list)
    for entry in entries:
        for key in keys(entry):
            groups[key].append(entry)
    return dict(sorted(groups.items()))


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")
