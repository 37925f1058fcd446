"""`hublint report` from a real crawl store: the store's new memory (and its migration), report.json against
`hublint check`, the static pages, `--author`, `--format markdown` and the command line's errors.

The store comes from a real crawl of synthetic adapters (benchmarks/bench_crawl.py) served by the Hub emulator;
one repo is fixed after a bot discussion, so the trend, the fix rate and the findings history have data.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hublint.cli import main
from hublint.emulator.server import Emulator
from hublint.emulator.synthetic import write_hub, write_variant
from hublint.render.safe import dumps
from hublint.report.model import RepoEntry, Report
from hublint.report.site import file_slug, write_site
from hublint.store import SCHEMA_VERSION, DiscussionRecord, Store, lint_results
from tests.builders import fill_store
from tests.test_store import postgres_database

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = 24
GROWN = 3  # bench_crawl's kind 1 (HL101, an error) for ids[3], [4], [5]
DAY = 86400.0


@dataclass(frozen=True)
class Crawled:
    url: str  # the emulator's
    db: str
    ids: list[str]
    site: Path
    fixed: str  # the repo fixed after its discussion opened


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """A crawl, a discussion on two broken repos, a fix of one of them, a second crawl, and the site."""
    tmp = tmp_path_factory.mktemp("report")
    root, db = tmp / "hub", f"sqlite:///{tmp / 'crawl.db'}"
    ids = write_hub(root, ADAPTERS)
    with pytest.MonkeyPatch.context() as patch, Emulator(root) as emulator:
        patch.setenv("HUBLINT_NO_CACHE", "1")
        assert main(["crawl", "--db", db, "--endpoint", emulator.url]) == 0
        opened = time.time() - 3 * DAY
        with Store(db) as store:
            store.save_discussion(DiscussionRecord(ids[GROWN], 1, "f1", "open"), "bot", opened)
            store.save_discussion(DiscussionRecord(ids[GROWN + 1], 1, "f2", "open"), "bot", opened)
            store.save_discussion(DiscussionRecord(ids[GROWN + 1], 1, "f2", "closed"), "bot", opened + DAY)
        shutil.rmtree(root / ids[GROWN])  # the owner pushes a plain LoRA instead, without the grown tokenizer
        write_variant(root, ids[GROWN], "bench-bases/tiny-a", 0)
        assert main(["crawl", "--db", db, "--endpoint", emulator.url]) == 0
        site = tmp / "site"
        assert main(["report", "--db", db, "--out", str(site)]) == 0
        yield Crawled(emulator.url, db, ids, site, ids[GROWN])


def report_json(crawled: Crawled) -> dict:
    return json.loads((crawled.site / "report.json").read_text())


# -- the store --------------------------------------------------------------------------------------------------


def test_runs_record_requests_by_bucket_and_the_discussions_their_statuses_over_time(crawled: Crawled) -> None:
    with Store(crawled.db) as store:
        runs = store.runs()
        events = [(e.repo, e.status) for e in store.discussion_events()]
        history = {row.rule: row for row in store.finding_history(crawled.fixed)}
    first = runs[0]
    assert first.linted == ADAPTERS and first.failures == 0 and first.rate_limited == 0
    buckets = json.loads(first.requests_by_bucket)
    assert set(buckets) == {"api", "resolvers"} and sum(buckets.values()) == first.requests > 0
    assert runs[1].linted == 1  # only the changed repo
    two = crawled.ids[GROWN + 1]
    assert events == [(crawled.fixed, "open"), (two, "open"), (two, "closed")]
    assert history["HL101"].resolved_sha is not None  # fixed at that revision


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_schema_1_store_is_migrated_keeping_its_runs_and_discussions(database: str, tmp_path: Path) -> None:
    with _database(database, tmp_path) as url:
        with Store(url) as store:  # today's schema, taken back to schema 1 by hand
            store.save_discussion(DiscussionRecord("a/b", 7, "f", "open"), "bot", 1000.0)
            with store.engine.begin() as connection:
                for column in ("linted", "failures", "requests", "rate_limited", "requests_by_bucket"):
                    connection.execute(sa.text(f"ALTER TABLE runs DROP COLUMN {column}"))
                for column in ("crashes", "gone_at"):  # schema 3's
                    connection.execute(sa.text(f"ALTER TABLE repos DROP COLUMN {column}"))
                connection.execute(sa.text("DROP TABLE discussion_events"))
                connection.execute(sa.text("DROP TABLE acknowledged"))
                summary = json.dumps({"linted": 5, "failed": 1, "requests": 40, "rate_limited": 2})
                connection.execute(
                    sa.text("INSERT INTO runs (worker, started_at, finished_at, summary) VALUES ('w', 1, 2, :s)"),
                    {"s": summary},
                )
                connection.execute(sa.text("UPDATE hublint_meta SET value = '1' WHERE key = 'schema_version'"))
        with Store(url) as store:
            (run,) = store.runs()
            events = store.discussion_events()
            with store.engine.begin() as connection:
                version = connection.execute(sa.text("SELECT value FROM hublint_meta")).scalar()
        assert (run.linted, run.failures, run.requests, run.rate_limited) == (5, 1, 40, 2)
        assert [(e.repo, e.num, e.status) for e in events] == [("a/b", 7, "open")]
        assert version == str(SCHEMA_VERSION) == "3"


def _database(kind: str, tmp_path: Path):
    if kind == "postgresql":
        return postgres_database()
    from contextlib import nullcontext

    return nullcontext(f"sqlite:///{tmp_path / 'old.db'}")


# -- report.json ------------------------------------------------------------------------------------------------


def test_report_json_agrees_with_hublint_check_repo_by_repo(
    crawled: Crawled, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBLINT_NO_CACHE", "1")
    capsys.readouterr()
    with Emulator(Path(crawled.db.removeprefix("sqlite:///")).parent / "hub") as emulator:
        main(["check", *crawled.ids, "--endpoint", emulator.url, "--format", "json", "--fail-on", "never"])
    checked = {r["target"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    repos = {r["id"]: r for r in report_json(crawled)["repos"]}
    assert set(repos) == set(crawled.ids)
    for repo_id, result in checked.items():
        repo = repos[repo_id]
        assert repo["revision"] == result["revision"]
        assert [(f["rule"], f["severity"], f["message"]) for f in repo["findings"]] == [
            (f["rule"], f["severity"], f["message"]) for f in result["findings"]
        ]
        assert repo["owner"] == repo_id.split("/")[0] and repo["base_model"] == result["base_model"]
        assert repo["status"] == ((result["findings"] and max_severity(result["findings"])) or "clean")


def max_severity(findings: list[dict]) -> str:
    return min((f["severity"] for f in findings), key=["error", "warning", "info"].index)


def test_report_json_documents_discussions_the_fix_rate_and_the_trend(crawled: Crawled) -> None:
    document = report_json(crawled)
    repos = {r["id"]: r for r in document["repos"]}
    assert repos[crawled.fixed]["discussion"]["status"] == "open" and repos[crawled.fixed]["status"] != "error"
    assert repos[crawled.ids[GROWN + 1]]["discussion"]["status"] == "closed"
    assert repos[crawled.ids[0]]["discussion"] is None
    outcomes = document["discussions"]
    assert (outcomes["opened"], outcomes["fixed"], outcomes["closed_without_fix"], outcomes["open"]) == (2, 1, 1, 0)
    assert 2.9 < outcomes["median_days_to_fix"] < 3.1
    assert document["trend"][-1]["fixed"] >= 1
    assert document["summary"]["statuses"]["error"] == sum(r["status"] == "error" for r in document["repos"])
    assert datetime.fromisoformat(document["generated"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    history = {h["rule"]: h for h in repos[crawled.fixed]["history"]}
    assert history["HL101"]["fixed"] is not None


# -- the pages --------------------------------------------------------------------------------------------------


class Links(HTMLParser):
    """Every URL a page loads (src, stylesheets) and links to (href)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "link" or values.get("src"):
            self.loads.append(values.get("href") or values.get("src") or "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text())
    return links


def test_every_page_loads_only_files_of_the_site_and_every_internal_link_resolves(crawled: Crawled) -> None:
    pages = sorted(crawled.site.rglob("*.html"))
    assert len(pages) > ADAPTERS // 2
    for page in pages:
        links = parse(page)
        for url in links.loads:
            assert not re.match(r"^[a-z]+:|^//", url), f"{page}: loads {url}"
            assert (page.parent / url).resolve().is_file(), f"{page}: {url} missing"
        for url in links.links:
            if re.match(r"^[a-z]+:", url):
                continue  # a hyperlink a person may follow (the rule docs), not a load
            path, _, anchor = url.partition("#")
            target = (page.parent / path).resolve() if path else page
            assert target.is_file(), f"{page}: links to missing {url}"
            if anchor and target.suffix == ".html":
                assert anchor in parse(target).ids, f"{page}: no #{anchor} in {target.name}"


def test_the_overview_shows_the_stores_numbers_and_every_owner_has_a_page(crawled: Crawled) -> None:
    document = report_json(crawled)
    statuses = document["summary"]["statuses"]
    html = (crawled.site / "index.html").read_text()
    assert f'<dd id="count-broken">{statuses["error"]}</dd>' in html
    linted = sum(statuses[s] for s in ("error", "warning", "info", "clean"))
    assert f'<dd id="count-linted">{linted}</dd>' in html
    owners = {r["owner"] for r in document["repos"]}
    for owner in owners:
        page = crawled.site / "owner" / f"{file_slug(owner)}.html"
        assert all(r["id"] in page.read_text() for r in document["repos"] if r["owner"] == owner)
    for code, count in document["rules"].items():
        page = crawled.site / "rule" / f"{code}.html"
        assert f'<strong id="rule-count">{count}</strong>' in page.read_text()
    assert (crawled.site / "base" / "bench-bases--tiny-a.html").is_file()
    for chart in ("statuses", "rules", "trend", "fix-rate", "runs"):
        svg = ET.parse(crawled.site / "charts" / f"{chart}.svg").getroot()
        ns = "{http://www.w3.org/2000/svg}"
        assert svg.find(f"{ns}title") is not None and svg.find(f"{ns}desc") is not None
        assert f'src="charts/{chart}.svg"' in html


def test_badges_are_svg_a_card_can_embed(crawled: Crawled) -> None:
    broken = ET.parse(crawled.site / "badges" / "user3" / "adapter-0003.svg").getroot()  # fixed: passing now
    grown = ET.parse(crawled.site / "badges" / "user4" / "adapter-0004.svg").getroot()
    assert "passing" in ET.tostring(broken, encoding="unicode")
    assert "broken" in ET.tostring(grown, encoding="unicode")


def test_repo_provided_text_is_escaped_in_every_page_and_file_name(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    finding = {"rule": "HL101", "severity": "error", "message": f"rows {hostile}", "fix": {"summary": hostile}}
    repo = RepoEntry(f"../{hostile}/x", "abc", "error", (finding,), base_model=f"../../{hostile}")
    write_site(Report(datetime.now(timezone.utc), [repo]), tmp_path / "site")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((tmp_path / "site").resolve()) for p in written)
    for page in (tmp_path / "site").rglob("*.html"):
        assert hostile not in page.read_text(), page
    assert "&lt;img src=x onerror=alert(1)&gt;" in next((tmp_path / "site" / "owner").glob("*.html")).read_text()


def test_controls_bidi_and_lone_surrogates_a_crawl_stored_are_shown_inert_and_json_stays_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    fill_store(url, 3, owners=1, bases=1)
    hostile = {"rule": "HL101", "severity": "error", "message": "tensor x\ud800 \u202egnp.exe \x1b[2J", "file": None}
    with Store(url) as store, store.engine.begin() as connection:
        repo_id, stored = connection.execute(sa.select(lint_results.c.repo, lint_results.c.result)).first()
        result = json.loads(stored)  # as the crawl stores a repo's strings: strict JSON, escapes kept
        result["findings"].append({**hostile, "details": {"scale": "NaN"}})
        connection.execute(sa.update(lint_results).where(lint_results.c.repo == repo_id).values(result=dumps(result)))
    assert main(["report", "--db", url, "--out", str(tmp_path / "site")]) == 0
    assert main(["report", "--db", url, "--format", "json"]) == 0
    printed = capsys.readouterr().out.splitlines()[-1]
    for text in (printed, (tmp_path / "site" / "report.json").read_text("utf-8")):
        document = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"))
        (repo,) = [r for r in document["repos"] if r["id"] == repo_id]
        assert hostile["message"] in [f["message"] for f in repo["findings"]]  # lossless for other tools
    page = next((tmp_path / "site" / "owner").glob("*.html")).read_text("utf-8")
    assert "tensor x\\ud800 <U+202E>gnp.exe \\x1b[2J" in page.replace("&lt;", "<").replace("&gt;", ">")
    assert not re.search("[\x1b\u202e]", page)


# -- the command line ---------------------------------------------------------------------------------------------


def test_author_reports_one_owner_without_a_prior_crawl(
    crawled: Crawled, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBLINT_NO_CACHE", "1")
    with Emulator(Path(crawled.db.removeprefix("sqlite:///")).parent / "hub") as emulator:
        capsys.readouterr()
        assert main(["report", "--author", "user4", "--endpoint", emulator.url, "--format", "markdown"]) == 0
        markdown = capsys.readouterr().out
        assert main(["report", "--author", "user4", "--endpoint", emulator.url, "--out", str(tmp_path / "s")]) == 0
        scoped = f"sqlite:///{tmp_path / 'scoped.db'}"
        assert main(["crawl", "--author", "user4", "--db", scoped, "--endpoint", emulator.url]) == 0
    with Store(scoped) as store:
        crawled_ids = sorted(row.id for row in store.report_repos())
    mine = [i for i in crawled.ids if i.startswith("user4/")]
    broken = sum(r["status"] == "error" for r in report_json(crawled)["repos"] if r["id"] in mine)
    assert markdown.startswith("<!-- hublint-dashboard -->\n## hublint dashboard of `user4`")
    assert f"**{len(mine)} repos linted of `user4`: {broken} broken" in markdown
    assert "- [ ] <!-- hublint-repo=user4/adapter-0004 --> `user4/adapter-0004`: HL101 " in markdown
    assert "user3/" not in markdown
    repos = json.loads((tmp_path / "s" / "report.json").read_text())["repos"]
    assert sorted(r["id"] for r in repos) == sorted(mine) == crawled_ids


def test_the_crawl_workflow_publishes_the_site_with_least_permissions() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "crawl.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    crawl_steps = workflow["jobs"]["crawl"]["steps"]
    names = [step.get("name") for step in crawl_steps]
    assert names.index("Build the dashboard site") > names.index("Crawl")
    build = crawl_steps[names.index("Build the dashboard site")]
    assert "hublint report --out site" in build["run"] and "secrets" not in build["run"]
    pages = workflow["jobs"]["pages"]
    assert pages["needs"] == "crawl" and pages["permissions"] == {"pages": "write", "id-token": "write"}
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    dashboard = workflow["jobs"]["dashboard-issue"]
    writers = [name for name, job in workflow["jobs"].items() if job.get("permissions", {}).get("issues") == "write"]
    assert writers == ["dashboard-issue"] and dashboard["permissions"] == {"contents": "read", "issues": "write"}
    assert dashboard["needs"] == ["crawl", "pages"] and pages["outputs"]["page_url"]
    (update,) = [step for step in dashboard["steps"] if step.get("name") == "Update the dashboard issue"]
    assert '--github-issue "$GITHUB_REPOSITORY"' in update["run"] and "${{" not in update["run"]  # no injection
    assert update["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    # It reads exactly the state this attempt's crawl saved (a miss fails the job, never an empty store saved as
    # the newest state) and saves it under a key of its own, the newest for the next run's restore-keys.
    (restore,) = [step for step in dashboard["steps"] if step.get("uses", "").startswith("actions/cache/restore@")]
    (saved,) = [step for step in crawl_steps if step.get("uses", "").startswith("actions/cache/save@")]
    (kept,) = [step for step in dashboard["steps"] if step.get("uses", "").startswith("actions/cache/save@")]
    assert restore["with"]["key"] == saved["with"]["key"] and restore["with"]["fail-on-cache-miss"] is True
    assert "run_attempt" in saved["with"]["key"] and kept["with"]["key"].startswith(saved["with"]["key"])
    assert kept["with"]["key"] != saved["with"]["key"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "report needs --db URL (a crawl store) or --author OWNER"),
        (["report", "--db", "mysql://x/y"], "unsupported database 'mysql'"),
        (["report", "--db", "x.db", "--github-issue", "nope"], "--github-issue 'nope': expected OWNER/REPO"),
        (["report", "--db", "typo.db"], "no crawl store at "),  # not a new, empty store that reports nothing
        (["report", "--db", "postgresql+psycopg://bot:s3cret@127.0.0.1:1/x"], "the database failed"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.delenv("HUBLINT_DB", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hublint: {message}") and err.count("\n") == 1
    assert "s3cret" not in err and not (tmp_path / "typo.db").exists()


def test_a_site_written_over_an_older_one_keeps_each_repos_own_badge(tmp_path: Path) -> None:
    def site(*statuses: str) -> None:
        finding = {"rule": "HL101", "severity": "error", "message": "m"}
        repos = [RepoEntry(f"o/r{n}", "abc", s, (finding,) if s == "error" else ()) for n, s in enumerate(statuses)]
        write_site(Report(datetime.now(timezone.utc), repos), tmp_path)

    site("error", "error", "error")  # one badge, linked twice
    site("clean", "error", "clean")
    badges = [(tmp_path / "badges" / "o" / f"r{n}.svg").read_text() for n in range(3)]
    assert ["passing" in b for b in badges] == [True, False, True] and "broken" in badges[1]
