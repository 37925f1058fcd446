"""`hublint check`: turn targets (Hub ids or directories) into LintResults. Clients are passed in."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hublint.errors import HublintError, TargetError
from hublint.hub import HubBaseFacts, HubClient
from hublint.lint import LintConfig, LintResult, Skipped, Stats, needs_of, run_rules, selected_rules
from hublint.local import LocalRepo
from hublint.mirror import HubMirror
from hublint.rules.model import Need, Rule
from hublint.rules.peft.ids import is_owned_hub_id
from hublint.snapshots import (
    BaseFactsSource,
    RepoReader,
    SubfolderReader,
    UnreadableRepo,
    adapter_folders,
    build_snapshot,
)


@dataclass(frozen=True)
class Target:
    name: str  # as the user wrote it
    path: Path | None = None  # a directory
    repo_id: str | None = None
    revision: str | None = None


def parse_target(text: str, revision: str | None = None) -> Target:
    if os.path.isdir(text):
        return Target(text, path=Path(text))
    repo_id, _, at_revision = text.partition("@")
    if is_owned_hub_id(repo_id):
        return Target(text, repo_id=repo_id, revision=at_revision or revision)
    raise TargetError(f"{text!r} is neither a directory nor a Hub id (owner/name[@revision])")


def default_cache_dir() -> Path | None:
    if os.environ.get("HUBLINT_NO_CACHE"):
        return None
    root = os.environ.get("HUBLINT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hublint"
    )
    return Path(root) / "base-facts"


class Checker:
    """Lints targets with one Hub client, so base facts are fetched once and shared by every adapter."""

    def __init__(
        self, client: HubClient, config: LintConfig, *, cache_dir: Path | None = None, mirror: HubMirror | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.mirror = mirror  # where a directory's Git LFS pointer weights are read from (bot/mirror.py)
        self.bases = HubBaseFacts(client, cache_dir)
        self.linter = AdapterLinter.for_config(config, self.bases)

    def check(self, target: Target, base_override: str | None = None) -> LintResult:
        """The repo's primary adapter: the one at its root, else its first subfolder's (the others are not read)."""
        return self.check_adapters(target, base_override, limit=1)[0]

    def check_adapters(
        self, target: Target, base_override: str | None = None, *, limit: int | None = None
    ) -> list[LintResult]:
        """Every adapter in the repo (the root one, `checkpoint-500/`, `adapters/<name>/`…), one result each."""
        before = self._counters()
        try:
            if target.path is not None:
                repo: RepoReader = LocalRepo(target.path, target.name)
                if self.mirror is not None:
                    repo = self.mirror.fill(repo, self.client)
            else:
                assert target.repo_id is not None
                repo = self.client.open_repo(target.repo_id, target.revision)
        except (HublintError, UnreadableRepo, OSError) as exc:
            source = "local" if target.path is not None else "hub"
            result = LintResult(target.name, source, target.revision, error=_one_line(exc))
            result.stats = self._since(before)
            return [result]
        return self.lint_adapters(repo, base_override, before, limit=limit)

    def lint_adapters(
        self,
        repo: RepoReader,
        base_override: str | None = None,
        before: Stats | None = None,
        *,
        limit: int | None = None,
    ) -> list[LintResult]:
        """One result per adapter folder of an opened repo (the first `limit`), each with the requests it cost (the
        first also pays for opening the repo). The bot reads the owner's wishes from the same reader first."""
        results = []
        for index, folder in enumerate(adapter_folders(repo.files)[:limit]):
            before = before or self._counters()
            result = self._lint(repo, folder, base_override, primary=index == 0)
            result.stats = self._since(before)
            results.append(result)
            before = None
        return results

    def _lint(self, repo: RepoReader, folder: str, base_override: str | None, *, primary: bool) -> LintResult:
        try:
            return self.linter.lint(repo, folder, base_override, primary=primary)
        except (HublintError, UnreadableRepo, OSError) as exc:
            result = LintResult(repo.target, repo.source, repo.revision, error=_one_line(exc))
            return in_subfolder(result, folder)

    def _counters(self) -> Stats:
        return Stats(self.client.stats.http_requests, self.client.stats.bytes_downloaded)

    def _since(self, before: Stats) -> Stats:
        now = self._counters()
        return Stats(now.http_requests - before.http_requests, now.bytes_downloaded - before.bytes_downloaded)


@dataclass(frozen=True)
class AdapterLinter:
    """Lints one adapter folder of an opened repo against shared base facts: what `check`, the bot and the crawler
    all run. Raises what it cannot read (Hub errors, `UnreadableRepo`); callers decide what a failure means."""

    rules: Sequence[Rule]
    needs: frozenset[Need]
    config: LintConfig
    bases: BaseFactsSource

    @classmethod
    def for_config(cls, config: LintConfig, bases: BaseFactsSource) -> AdapterLinter:
        enabled = selected_rules(config)
        return cls(enabled, needs_of(enabled), config, bases)

    def lint(self, repo: RepoReader, folder: str, base_override: str | None = None, *, primary: bool) -> LintResult:
        reader = SubfolderReader(repo, folder) if folder else repo
        snapshot = build_snapshot(reader, self.needs, self.bases, base_override)
        if folder:
            snapshot = dataclasses.replace(snapshot, subfolder=folder, repo_files=repo.files, primary=primary)
        result = run_rules(snapshot, self.rules, self.config)
        return in_subfolder(result, folder)


def combined(results: Sequence[LintResult], notes: Sequence[Skipped] = ()) -> LintResult:
    """A repo's adapters as one result, the way the crawl stores a repo: every adapter's findings (their files
    named from the repo's root), every skip (a subfolder's named) and `notes` on folders not linted, the primary
    adapter's snapshot and base."""
    primary = results[0]
    skipped = [
        Skipped(skip.rule, f"{result.subfolder}/: {skip.reason}" if result.subfolder else skip.reason)
        for result in results
        for skip in result.skipped
    ]
    return LintResult(
        primary.target,
        primary.source,
        primary.revision,
        findings=[finding for result in results for finding in result.findings],
        skipped=list(dict.fromkeys([*skipped, *notes])),
        snapshot=primary.snapshot,
    )


def in_subfolder(result: LintResult, folder: str) -> LintResult:
    """The result of an adapter in `folder`, its findings' files named from the repo's root ("": the root's own)."""
    if not folder:
        return result
    result.subfolder = folder
    result.findings = [
        dataclasses.replace(finding, file=f"{folder}/{finding.file}" if finding.file else folder)
        for finding in result.findings
    ]
    return result


def _one_line(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
