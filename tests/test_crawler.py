"""`hublint crawl` against the Hub emulator over real HTTP, with real SQLite files and the local PostgreSQL.

The synthetic adapters are the benchmark's (hublint.emulator.synthetic): four kinds in turn on three small bases.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi

import hublint.rules.vocab.hl101_embedding_vocab_mismatch
from hublint.check import Checker, Target
from hublint.cli import main
from hublint.crawler import BotStep, Crawler, CrawlOptions, CrawlSummary, crawl_clients, parse_time
from hublint.discussions import BotOptions, DiscussionBot
from hublint.emulator.server import Emulator, Faults
from hublint.emulator.synthetic import BASES, ScaledRepos, scaled_id, write_hub, write_templates, write_variant
from hublint.hub import CrawlClients, HubClient, Retry
from hublint.lint import LintConfig
from hublint.store import Listing, Store
from tests.test_store import postgres_database

ADAPTERS = 24
PAGE_SIZE = 10
KIND_GROWN = 3  # the first adapter of kind 1 (grown vocabulary, HL101): ids[n] has kind (n // 3) % 4
ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(
    r"^crawl: (\d+) repos seen, (\d+) linted, (\d+) skipped, (\d+) failed; \d+ requests, [\d.]+ [kM]B, [\d.]+ s"
)
pytestmark = pytest.mark.usefixtures("no_home_cache")


@pytest.fixture
def no_home_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBLINT_NO_CACHE", "1")  # base facts come from the store under test


@pytest.fixture
def hub(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "hub"
    return root, write_hub(root, ADAPTERS)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crawl.db'}"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def crawl(
    endpoint: str,
    url: str,
    *,
    clients: Callable[[], HubClient] | None = None,
    clock: Callable[[], float] = time.time,
    **options: object,
) -> CrawlSummary:
    budget = options.pop("budget", None)
    settings = CrawlOptions(**{"concurrency": 8, **options})  # type: ignore[arg-type]
    with Store(url) as store:
        factory = clients or crawl_clients(endpoint, False, settings.concurrency, budget=budget)
        return Crawler(store, factory, LintConfig(), settings, clock=clock).run()


def linted(url: str) -> Counter[str]:
    """Complete lints per repo, as the results table has them."""
    with Store(url) as store:
        return Counter(row.repo for row in store.results() if row.error is None)


def test_a_first_crawl_lints_every_adapter_and_a_recrawl_costs_only_the_listing_pages(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    with Emulator(root, page_size=PAGE_SIZE) as emulator:
        first = crawl(emulator.url, db)
        seen = emulator.stats()["requests"]
        emulator.reset_stats()
        again = crawl(emulator.url, db)
        assert emulator.stats()["requests"] == {"list_models": 3}
    assert (first.seen, first.linted, first.skipped, first.failed) == (ADAPTERS, ADAPTERS, 0, 0)
    assert (again.seen, again.linted, again.skipped) == (ADAPTERS, 0, ADAPTERS)
    assert seen["model_info"] == len(BASES)  # the bases'; adapters are read from their listing entries
    assert linted(db) == Counter(dict.fromkeys(ids, 1))
    with Store(db) as store:
        rows = store.results()
        sha = store.repo(ids[KIND_GROWN]).sha
    # Against a listing of names only: at most 3 resolver reads per adapter (config, header, tokenizer.json's head).
    assert max(row.requests for row in rows) <= 3 and all(row.seconds > 0 for row in rows)
    assert sum(seen.get(kind, 0) for kind in ("resolve_get", "resolve_head")) <= 3 * ADAPTERS + 5 * len(BASES)
    grown = json.loads(next(row.result for row in rows if row.repo == ids[KIND_GROWN]))
    assert grown["revision"] == sha and "HL101" in {f["rule"] for f in grown["findings"]}


def test_the_crawls_few_reads_reach_the_verdicts_of_reading_every_file(hub: tuple[Path, list[str]], db: str) -> None:
    """A local lint reads every tokenizer file whole; the crawl reads tokenizer.json's head only. Same findings."""
    root, ids = hub
    with Emulator(root, page_size=PAGE_SIZE) as emulator, HubClient(emulator.url, False) as client:
        crawl(emulator.url, db)
        checker = Checker(client, LintConfig())
        local = {repo_id: checker.check(Target(repo_id, path=root / repo_id)) for repo_id in ids}
    with Store(db) as store:
        crawled = {row.repo: json.loads(row.result) for row in store.results()}

    def verdicts(findings: list[dict]) -> set[tuple[str, str]]:
        return {(finding["rule"], finding["message"]) for finding in findings}

    for repo_id in ids:
        expected = {(f.rule, f.message) for f in local[repo_id].findings}
        assert verdicts(crawled[repo_id]["findings"]) == expected, repo_id
    assert any(("HL101" in {rule for rule, _ in verdicts(found["findings"])}) for found in crawled.values())


def test_a_listed_file_of_unknown_size_is_read_no_further_than_a_small_file(
    hub: tuple[Path, list[str]], db: str
) -> None:
    """The listing gives no sizes, so a 30 MB adapter_config.json is only found out by a capped read."""
    root, ids = hub
    config = root / ids[0] / "adapter_config.json"
    document = json.loads(config.read_text())
    config.write_text(json.dumps({**document, "padding": "x" * 30_000_000}))
    with Emulator(root, page_size=PAGE_SIZE) as emulator:
        crawl(emulator.url, db, limit=1)
    with Store(db) as store:
        [row] = store.results(ids[0])

    assert row.bytes < 4_200_000
    assert "too large for a configuration file" in row.result


def test_a_changed_repo_is_linted_again_and_its_fix_shows_in_the_findings_history(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    repo_id = ids[KIND_GROWN]
    with Emulator(root) as emulator:
        crawl(emulator.url, db)
        with Store(db) as store:
            before = store.repo(repo_id).sha
        write_variant(root, repo_id, base_of(KIND_GROWN), 0)  # the owner saves a plain LoRA instead
        summary = crawl(emulator.url, db)
    assert (summary.linted, summary.skipped) == (1, ADAPTERS - 1)
    with Store(db) as store:
        after = store.repo(repo_id).sha
        history = {row.rule: row for row in store.finding_history(repo_id)}
    assert after != before
    assert history["HL101"].first_seen_sha == before and history["HL101"].resolved_sha == after
    assert linted(db)[repo_id] == 2


def test_gated_and_disabled_repos_are_skipped_without_being_read(hub: tuple[Path, list[str]], db: str) -> None:
    root, ids = hub
    (root / ids[0] / ".hub.json").write_text(json.dumps({"gated": "auto"}))
    (root / ids[1] / ".hub.json").write_text(json.dumps({"disabled": True}))
    with Emulator(root) as emulator:
        summary = crawl(emulator.url, db)
    assert (summary.linted, summary.skipped) == (ADAPTERS - 2, 2)
    with Store(db) as store:
        assert [store.repo(r).status for r in ids[:2]] == ["skipped", "skipped"]
        assert not store.results(ids[0]) and not store.results(ids[1])


def test_server_errors_and_a_rate_limit_still_lint_everything_and_the_pacing_avoids_429(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    with Emulator(root, faults=Faults(error_rate=0.1, rate_limit=(30, 1.0), seed=7)) as emulator:
        summary = crawl(emulator.url, db)
        statuses = emulator.stats()["statuses"]
    assert (summary.linted, summary.failed) == (ADAPTERS, 0)
    assert linted(db) == Counter(dict.fromkeys(ids, 1))
    assert sum(statuses.get(code, 0) for code in ("500", "502", "503")) > 0
    assert "429" not in statuses  # paused on the RateLimit headers before the quota ran out


def test_a_429_is_waited_out_for_its_retry_after(hub: tuple[Path, list[str]], db: str) -> None:
    root, ids = hub
    # reserve=0 pauses only at r=0: the other workers' requests in flight meet the 429 and its Retry-After.
    with Emulator(root, faults=Faults(rate_limit=(15, 1.0))) as emulator:
        clients = CrawlClients(emulator.url, False, reserve=0, retry=Retry(max_wait=30))
        summary = crawl(emulator.url, db, clients=clients)
        statuses = emulator.stats()["statuses"]
    assert statuses.get("429", 0) > 0
    assert (summary.linted, summary.failed) == (ADAPTERS, 0)
    assert linted(db) == Counter(dict.fromkeys(ids, 1))


class FlakyTransport(httpx2.BaseTransport):
    """Real HTTP, except 503 for one repo's files while `failing` is set."""

    def __init__(self, inner: httpx2.BaseTransport, repo_id: str, failing: list[bool]) -> None:
        self.inner, self.repo_id, self.failing = inner, repo_id, failing

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.failing[0] and f"/{self.repo_id}/resolve/" in request.url.path:
            return httpx2.Response(503, json={"error": "Service Unavailable"})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_failing_repo_is_recorded_retried_on_a_later_run_and_given_up_after_max_attempts(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    flaky, failing, clock = ids[KIND_GROWN], [True], Clock()
    tls = httpx2.create_ssl_context()
    options = {"retry_delay": 100.0, "max_attempts": 2, "clock": clock}
    with Emulator(root) as emulator:

        def clients() -> HubClient:
            transport = FlakyTransport(httpx2.HTTPTransport(verify=tls), flaky, failing)
            return HubClient(emulator.url, False, retry=Retry(attempts=2), transport=transport)

        def run() -> CrawlSummary:
            return crawl(emulator.url, db, clients=clients, **options)

        first = run()
        with Store(db) as store:
            row = store.repo(flaky)
            assert (row.status, row.attempts) == ("retry", 1) and clock.now + 80 < row.next_attempt_at
            assert "HTTP 503" in store.results(flaky)[0].error
        assert (first.linted, first.failed) == (ADAPTERS - 1, 1)
        failing[0] = False
        assert run().linted == 0  # not due yet
        clock.now += 200
        failing[0] = True
        assert run().failed == 1  # the second attempt fails too: given up on this sha
        clock.now += 10**6
        assert run().linted == 0
        with Store(db) as store:
            assert store.repo(flaky).status == "parked"
        failing[0] = False
        write_variant(root, flaky, base_of(KIND_GROWN), 0)  # a new commit gets a fresh start
        assert run().linted == 1
    assert linted(db)[flaky] == 1


def base_of(n: int) -> str:
    """The base of the n-th synthetic adapter (write_hub deals them out in turn)."""
    return list(BASES)[n % len(BASES)]


def test_the_request_budget_is_never_overshot_and_the_next_run_finishes_the_work(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    with Emulator(root, page_size=PAGE_SIZE) as emulator:
        partial = crawl(emulator.url, db, budget={"total": 25})
        sent = emulator.stats()["total_requests"]
        by_bucket = crawl(emulator.url, db, budget={"resolvers": 10})
        rest = crawl(emulator.url, db)
    assert partial.budget_spent and partial.requests == sent == 25 and partial.linted < ADAPTERS
    assert partial.line().endswith("; request budget spent")
    assert by_bucket.requests_by_bucket["resolvers"] == 10 and by_bucket.budget_spent
    assert partial.failed == by_bucket.failed == 0  # a repo cut short by the budget is not a failed attempt
    assert partial.linted + by_bucket.linted + rest.linted == ADAPTERS
    assert linted(db) == Counter(dict.fromkeys(ids, 1))


def test_every_request_counts_discussions_and_whoami_included_and_the_quota_used_is_printed(
    hub: tuple[Path, list[str]], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = hub
    with Emulator(root, tokens={"hf_bot": "hublint-bot"}, faults=Faults(rate_limit=(1000, 300))) as emulator:
        arguments = ["crawl", "--db", db, "--endpoint", emulator.url, "--token", "hf_bot", "--discussions", "post"]
        assert main(arguments) == 0
        stats = emulator.stats()["requests"]
    line, after = capsys.readouterr().out.splitlines()
    assert stats["discussions"] > 0 and stats.get("whoami", 0) > 0
    # After its summary, the crawl re-reads the bot's open discussions, one request each.
    reread = int(re.match(r"discussions: (\d+) open ones re-read", after).group(1))
    resolvers = stats["resolve_get"] + stats.get("resolve_head", 0)
    api = sum(stats.values()) - resolvers - reread
    assert f"; quota used: api {api} of 1000 per 300 s, resolvers {resolvers} of 1000 per 300 s" in line, line
    assert re.search(rf"; {api + resolvers} requests, ", line)
    with pytest.raises(SystemExit) as usage:
        main(["crawl", "--db", db, "--budget", "apis=3"])
    assert usage.value.code == 2 and "unknown bucket 'apis'" in capsys.readouterr().err


def test_limit_and_since_bound_the_listing(hub: tuple[Path, list[str]], db: str) -> None:
    root, ids = hub
    for repo_id in ids[:4]:
        (root / repo_id / ".hub.json").write_text(json.dumps({"lastModified": "2020-01-01T00:00:00Z"}))
    with Emulator(root) as emulator:
        limited = crawl(emulator.url, db, limit=5)
        assert emulator.stats()["requests"]["list_models"] == 1
        recent = crawl(emulator.url, db, since=parse_time("2024-01-01"))
    assert (limited.seen, limited.linted) == (5, 5)
    assert (recent.seen, recent.linted) == (ADAPTERS - 4, ADAPTERS - 4 - 5)
    assert set(linted(db)).isdisjoint(ids[:4])


def test_the_cli_prints_one_summary_line(
    hub: tuple[Path, list[str]], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = hub
    with Emulator(root) as emulator:
        assert main(["crawl", "--db", db, "--endpoint", emulator.url, "--limit", "3", "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and SUMMARY.match(out).groups() == ("3", "3", "0", "0")
    assert main(["crawl", "--db", db, "--since", "last week"]) == 2
    assert "--since 'last week' is not an ISO 8601 date" in capsys.readouterr().err


def cli(db: str, endpoint: str, *arguments: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bot.cli", "crawl", "--db", db, "--endpoint", endpoint, *arguments]
    environment = {**os.environ, "HUBLINT_NO_CACHE": "1"}
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_two_worker_processes_on_postgres_one_lists_both_lint_each_adapter_once_and_deleted_repos_go(
    tmp_path: Path, postgres: str
) -> None:
    root = tmp_path / "hub"
    ids = write_hub(root, 36)
    # 18 listing pages, slow until the second worker is up: the first one is still listing when it arrives.
    with Emulator(root, faults=Faults(latency=1.0), page_size=2) as emulator, Store(postgres) as store:
        lister = cli(postgres, emulator.url, "--concurrency", "2")
        wait_for(lambda: store.listing_taken("nobody", time.time()))
        linter = cli(postgres, emulator.url, "--concurrency", "2")
        wait_for(lambda: len(store.workers()) == 2)
        emulator.set_faults(Faults(latency=0.2))
        outputs = [worker.communicate(timeout=120) for worker in (lister, linter)]
        listed = emulator.stats()["requests"]["list_models"]
        deleted = [ids[0], ids[KIND_GROWN]]
        for repo_id in deleted:
            shutil.rmtree(root / repo_id)  # deleted from the Hub
        after = crawl(emulator.url, postgres)
        gone = [store.repo(repo_id) for repo_id in deleted]
        history = store.finding_history(ids[KIND_GROWN])
    assert [worker.returncode for worker in (lister, linter)] == [0, 0], outputs
    counts = [SUMMARY.match(out).groups() for out, _ in outputs]
    assert listed == 18  # the listing was read once, by one worker
    assert sum(int(linted_count) for _, linted_count, _, _ in counts) == 36
    assert all(int(linted_count) > 0 for _, linted_count, _, _ in counts), counts  # both linted a share
    assert linted(postgres) == Counter(dict.fromkeys(ids, 1))
    assert (after.linted, after.gone) == (0, 2) and "; 2 gone from the Hub" in after.line()
    assert all(row.status == "gone" and row.gone_at > time.time() - 120 for row in gone)
    assert history and all(row.resolved_at is not None for row in history)  # its findings closed


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_crawl_killed_mid_way_is_finished_by_one_restart_without_a_second_discussion(
    hub: tuple[Path, list[str]], db: str
) -> None:
    """SIGKILL mid-crawl, with 10 % injected 5xx and a rate limit: the restart takes the dead worker's repos back at
    once and lints every repo; nothing is linted twice and no repo gets a second discussion."""
    root, ids = hub
    bot = ["--discussions", "post", "--token", "hf_bot", "--concurrency", "2"]
    faults = Faults(latency=0.1, error_rate=0.1, rate_limit=(30, 1.0), seed=3)
    with Emulator(root, tokens={"hf_bot": "hublint-bot"}, faults=faults) as emulator:
        first = cli(db, emulator.url, *bot)
        wait_for(lambda: sum(linted(db).values()) >= 4 or first.poll() is not None)
        first.send_signal(signal.SIGKILL)
        first.wait()
        with Store(db) as store:
            in_flight = [repo_id for repo_id in ids if store.repo(repo_id).lease_owner is not None]
        assert 4 <= sum(linted(db).values()) < ADAPTERS
        resumed = cli(db, emulator.url, *bot)
        out, errors = resumed.communicate(timeout=120)
        statuses = emulator.stats()["statuses"]
        emulator.set_faults(Faults())  # the test's own reads
        api = HfApi(endpoint=emulator.url, token=False)
        posted = {repo_id: [d.num for d in api.get_repo_discussions(repo_id)] for repo_id in ids}
    assert resumed.returncode == 0, errors
    assert sum(statuses.get(code, 0) for code in ("500", "502", "503")) > 0
    if in_flight:
        assert f"; {len(in_flight)} taken back from dead workers" in out
    assert linted(db) == Counter(dict.fromkeys(ids, 1))
    with Store(db) as store:
        rows = [store.repo(repo_id) for repo_id in ids]
        assert store.workers() == {}
        # Linted at the sha listed; a repo whose discussion post met a 5xx waits for a later run (status retry).
        assert all(row.last_linted_sha == row.sha and row.crashes == 0 for row in rows)
        assert {row.status for row in rows} <= {"done", "retry"}
        records = {repo_id: store.discussion(repo_id) for repo_id in ids}
    assert all(len(nums) <= 1 for nums in posted.values()), posted
    assert any(posted.values())
    for repo_id, nums in posted.items():  # what the Hub shows, the store knows (or holds reserved, after a 5xx)
        record = records[repo_id]
        assert record is not None if nums else record is None or record.status == "posting", (repo_id, record)
        assert record is None or record.status == "posting" or record.num == nums[0], (repo_id, record)


def test_a_dry_run_counts_what_the_bot_would_post_and_posts_nothing(
    hub: tuple[Path, list[str]], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root, ids = hub
    with Emulator(root) as emulator:
        assert main(["crawl", "--db", db, "--endpoint", emulator.url, "--discussions", "dry-run"]) == 0
        api = HfApi(endpoint=emulator.url, token=False)
        assert not any(list(api.get_repo_discussions(repo_id)) for repo_id in ids)
    out = capsys.readouterr().out
    assert re.search(r"; discussions: \d+ would open", out)
    # The volume by action and rule: HL101 (loading fails) goes to discussions, never to the report alone.
    volume = re.search(r"; by action and rule: discussions: (\d+) \(HL101 (\d+)[^)]*\); pull requests: \d+", out)
    assert volume and volume.group(1) == volume.group(2) != "0", out
    with Store(db) as store:
        assert all(store.discussion(repo_id) is None for repo_id in ids)


def test_repos_held_back_by_the_bots_caps_get_their_discussion_on_a_later_run(
    hub: tuple[Path, list[str]], db: str
) -> None:
    root, ids = hub
    broken = [ids[n] for n in range(ADAPTERS) if (n // 3) % 4 in (1, 3)]  # HL101 errors; owners 4 and 5 twice
    clock = Clock()
    with Emulator(root, tokens={"hf_bot": "hublint-bot"}) as emulator:
        api = HfApi(endpoint=emulator.url, token=False)

        def run() -> CrawlSummary:
            with Store(db) as store, HubClient(emulator.url, "hf_bot") as client:
                bot = DiscussionBot(Checker(client, LintConfig()), BotOptions(post=True))
                clients = crawl_clients(emulator.url, False, 8)
                return Crawler(store, clients, LintConfig(), discuss=BotStep(bot), clock=clock).run()

        def posted() -> dict[str, int]:
            return {repo_id: len(list(api.get_repo_discussions(repo_id))) for repo_id in broken}

        first = run()
        after_first = posted()
        clock.now += 2 * 3600  # past the retry delay
        second = run()
        after_second = posted()
    held_back = [repo_id for repo_id, count in after_first.items() if count == 0]
    assert first.discussions["skip"] == len(held_back) >= 2  # a new discussion per owner per run, ten per run
    assert second.linted == len(held_back) and second.discussions["open"] == len(held_back)
    assert set(after_second.values()) == {1}


def test_a_rule_that_crashes_on_one_repo_is_recorded_and_the_crawl_goes_on(
    hub: tuple[Path, list[str]], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = hub
    victim = ids[KIND_GROWN]
    original = hublint.rules.vocab.hl101_embedding_vocab_mismatch.EmbeddingVocabMismatch.check

    def flaky(self, snapshot):  # a stand-in for a rule bug triggered by one repo's odd content
        if snapshot.target.startswith(victim):
            raise ZeroDivisionError("boom")
        return original(self, snapshot)

    monkeypatch.setattr(hublint.rules.vocab.hl101_embedding_vocab_mismatch.EmbeddingVocabMismatch, "check", flaky)
    with Emulator(root, page_size=PAGE_SIZE) as emulator:
        summary = crawl(emulator.url, db)
    assert (summary.linted, summary.failed) == (ADAPTERS - 1, 1)
    with Store(db) as store:
        assert "internal error: ZeroDivisionError: boom" in (store.repo(victim).status + str(store.results()))


def test_without_a_terminal_the_cli_logs_one_progress_line_per_n_repos(
    hub: tuple[Path, list[str]], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = hub
    with Emulator(root) as emulator:
        assert main(["crawl", "--db", db, "--endpoint", emulator.url, "--log-every", "5"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == ADAPTERS // 5, lines
    progress = re.compile(
        r"^crawl: 24 listed, (\d+)/24 linted, 0 failed; \d+ requests; [\d.]+ repos/s, (\d+ s|\d+ min \d+ s) left$"
    )
    assert [int(progress.match(line).group(1)) for line in lines] == [5, 10, 15, 20]


def test_on_a_terminal_the_cli_shows_a_live_progress_bar(hub: tuple[Path, list[str]], db: str) -> None:
    root, _ = hub
    with Emulator(root, faults=Faults(latency=0.05)) as emulator:
        controller, terminal = pty.openpty()
        command = [sys.executable, "-m", "bot.cli", "crawl", "--db", db, "--endpoint", emulator.url]
        environment = {**os.environ, "HUBLINT_NO_CACHE": "1", "COLUMNS": "160", "TERM": "xterm"}
        crawl_process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        screen = b""
        while chunk := _read_terminal(controller):
            screen += chunk
        out, _ = crawl_process.communicate(timeout=60)
        os.close(controller)
    assert crawl_process.returncode == 0 and SUMMARY.match(out.decode())
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).decode()
    assert re.search(r"24 listed, \d+/24 linted, 0 failed; \d+ requests .* \d+/24 .*ETA", text), text[-500:]


def _read_terminal(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # the crawl closed its end
        return b""


def test_an_idle_crawl_waits_for_a_silent_worker_elsewhere_and_lints_what_it_held(
    hub: tuple[Path, list[str]], db: str
) -> None:
    """A worker on another machine stopped beating 3 s ago (its lease: 4 s). It is not known to be dead yet, so the
    crawl, out of other work, waits for its lease to run out rather than exit, then takes its repo back."""
    root, ids = hub
    with Emulator(root) as emulator:
        crawl(emulator.url, db, limit=1)
        with Store(db) as store:
            store.note_listed([Listing(ids[5], "f" * 40, "2020-01-01T00:00:00.000Z", None)], time.time())
            store.register_worker("elsewhere:1:ab", time.time() - 3)
            assert store.claim("elsewhere:1:ab/0", time.time(), lease_seconds=60) is not None
        started = time.monotonic()
        summary = crawl(emulator.url, db, limit=1, lease_seconds=4)
        waited = time.monotonic() - started
    assert summary.reclaimed == 1 and waited >= 0.9
    with Store(db) as store:
        [attempt] = store.results(ids[5])  # linted in this run (at a sha the Hub does not know: a failure)
        assert attempt.worker.startswith(socket.gethostname()) and store.workers() == {}
        assert store.repo(ids[5]).lease_owner is None


def test_the_emulator_serves_a_hub_scale_listing_over_shared_file_sets(tmp_path: Path, db: str) -> None:
    """ScaledRepos: thousands of repos, nothing written per repo; each has its own sha; a commit moves a repo to
    the front of the listing with a new sha; a crawl lints them like repos on disk."""
    root = tmp_path / "hub"
    write_templates(root)
    repos = ScaledRepos(root, 5000)
    with Emulator(root, repos=repos) as emulator:
        api = HfApi(endpoint=emulator.url, token=False)
        listed = list(api.list_models(filter="peft", sort="lastModified", expand=["sha"]))
        repos.commit(7, datetime.now(timezone.utc))
        newest = next(iter(api.list_models(filter="peft", sort="lastModified", expand=["sha"], limit=1)))
        summary = crawl(emulator.url, db, limit=40)
    assert len(listed) == 5000 == len({m.sha for m in listed}) and listed[0].id == scaled_id(4999)
    assert newest.id == scaled_id(7) and newest.sha != next(m.sha for m in listed if m.id == scaled_id(7))
    assert (summary.linted, summary.failed) == (40, 0)
    assert sum(1 for _ in root.rglob("adapter_config.json")) == 12  # the shared file sets, nothing per repo
