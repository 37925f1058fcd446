"""The living dashboard issue (`hublint report --github-issue`) through the real github3.py against
tests/fake_github.py: created once, left alone when nothing changed, edited when findings change, ticked boxes
read back, kept and shown as acknowledged in the site, other people's issues untouched, truncated under GitHub's
65,536 characters keeping the summary."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hublint.cli import main
from hublint.github import ACTIONS_BOT
from hublint.report import issue
from hublint.store import Store, lint_results
from tests.builders import fill_store
from tests.fake_github import FakeGitHub, Token

REPO = "maintainer/dashboard"
TOKEN = "ghs_actions_write"


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with FakeGitHub({TOKEN: Token(ACTIONS_BOT)}, page_size=5) as fake:
        yield fake


def store_url(tmp_path: Path, repos: int) -> str:
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    fill_store(url, repos, owners=3, bases=2)
    return url


def report(github: FakeGitHub, url: str, out: Path, *extra: str) -> int:
    return main(
        ["report", "--db", url, "--out", str(out), "--github-issue", REPO, "--github-api-url", github.url, *extra]
    )


def bot_issues(github: FakeGitHub) -> list[dict]:
    return [i for i in github.repository_issues(REPO) if i["author"] == ACTIONS_BOT]


def test_the_issue_is_created_once_then_left_alone_then_edited_when_findings_change(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_url(tmp_path, 30)
    mallory = github.add_issue(REPO, issue.title(None), f"{issue.MARKER}\nmine", "mallory")  # same title and marker
    assert report(github, url, tmp_path / "site") == 0
    assert f"dashboard issue {REPO}#{mallory + 1}: created" in capsys.readouterr().err
    (first,) = bot_issues(github)
    body = first["body"]
    assert body.startswith(f"{issue.MARKER}\n## hublint dashboard\n\n**30 repos linted: 10 broken, 10 with warnings")
    assert body.count("- [ ] <!-- hublint-repo=") == 10 and "[fix](" not in body
    assert report(github, url, tmp_path / "site") == 0
    assert github.count("PATCH") == 0 and "unchanged" in capsys.readouterr().err
    fixed = "owner-00000/adapter-000000"
    assert f"hublint-repo={fixed} " in body
    with Store(url) as store, store.engine.begin() as connection:
        result = json.dumps({"target": fixed, "revision": "f" * 40, "findings": [], "base_model": None})
        connection.execute(sa.update(lint_results).where(lint_results.c.repo == fixed).values(result=result))
    assert report(github, url, tmp_path / "site", "--site-url", "https://example.org/report") == 0
    (edited,) = bot_issues(github)
    assert edited["number"] == first["number"] and edited["edits"] == 1
    assert fixed not in edited["body"] and edited["body"].count("- [ ] <!-- hublint-repo=") == 9
    assert "[fix](https://example.org/report/owner/owner-00000.html#repo-owner-00000--adapter-000003)" in edited["body"]
    assert github.repository_issues(REPO)[0]["body"] == f"{issue.MARKER}\nmine"  # mallory's, untouched


def test_a_ticked_box_is_kept_and_shown_as_acknowledged_in_every_report(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_url(tmp_path, 30)
    assert report(github, url, tmp_path / "site") == 0
    (created,) = bot_issues(github)
    acked = "owner-00000/adapter-000003"
    line = f"- [ ] <!-- hublint-repo={acked} -->"
    assert line in created["body"]
    github.issues[(REPO, created["number"])]["body"] = created["body"].replace(line, line.replace("[ ]", "[x]"))
    assert report(github, url, tmp_path / "site") == 0
    (kept,) = bot_issues(github)
    assert f"- [x] <!-- hublint-repo={acked} -->" in kept["body"] and "1 acknowledged." in kept["body"]
    repos = {r["id"]: r for r in json.loads((tmp_path / "site" / "report.json").read_text())["repos"]}
    assert repos[acked]["acknowledged"] and not repos["owner-00000/adapter-000000"]["acknowledged"]
    assert "acknowledged</span>" in (tmp_path / "site" / "owner" / "owner-00000.html").read_text()
    capsys.readouterr()
    assert main(["report", "--db", url, "--format", "markdown"]) == 0  # no issue this time: the store remembers
    assert f"- [x] <!-- hublint-repo={acked} -->" in capsys.readouterr().out
    unticked = kept["body"].replace(f"- [x] <!-- hublint-repo={acked}", f"- [ ] <!-- hublint-repo={acked}")
    github.issues[(REPO, created["number"])]["body"] = unticked
    assert report(github, url, tmp_path / "site") == 0
    assert f"- [ ] <!-- hublint-repo={acked} -->" in bot_issues(github)[0]["body"]


def test_a_long_dashboard_is_cut_under_the_limit_keeping_the_summary(github: FakeGitHub, tmp_path: Path) -> None:
    url = store_url(tmp_path, 3000)
    assert report(github, url, tmp_path / "site") == 0
    (created,) = bot_issues(github)
    body = created["body"]
    listed = body.count("- [ ] <!-- hublint-repo=")
    assert 100 < listed < 1000 and len(body) < issue.LIMIT
    assert body.startswith(f"{issue.MARKER}\n## hublint dashboard\n\n**3000 repos linted: 1000 broken")
    assert f"_{1000 - listed} more broken repos are not listed: an issue holds at most 65,536 characters." in body


def test_a_token_that_may_not_write_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_readonly")
    with FakeGitHub({"ghs_readonly": Token(ACTIONS_BOT, write=False)}) as github:
        assert report(github, store_url(tmp_path, 6), tmp_path / "site") == 2
    err = capsys.readouterr().err
    assert err == f"hublint: --github-issue: {REPO}: the token may not write issues (HTTP 403)\n"


def test_the_issue_text_changes_with_the_findings_not_with_the_clock_or_another_crawl(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from hublint.report import model

    url = store_url(tmp_path, 12)
    today = datetime.now(timezone.utc)
    with Store(url) as store:
        before = {issue.render(model.load(store, now=today + timedelta(days=day))) for day in (0, 1)}
        store.finish_run(store.start_run("later", time.time()), {"linted": 0}, time.time())  # a crawl, no news
        after = issue.render(model.load(store, now=today + timedelta(days=2)))
        changed = model.load(store).last_change
    (body,) = before
    assert after == body  # a daily report over unchanged findings does not edit the issue
    assert changed is not None and f"Findings last changed on {changed}." in body
