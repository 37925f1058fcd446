"""The sticky PR comment (bot/github.py) driven through the real github3.py against tests/fake_github.py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hublint.github import ACTIONS_BOT, GitHubError, Outcome, PullRequest, Retry, upsert_comment
from tests.fake_github import FakeGitHub, Token

REPO = "owner/model"
PR = PullRequest(REPO, 7)
MARKER = "<!-- hublint:pr-comment . -->"
TOKENS = {
    "ghs_actions_write": Token(ACTIONS_BOT),
    "ghs_fork_readonly": Token(ACTIONS_BOT, write=False),
    "ghp_maintainer": Token("maintainer", installation=False),
}
FAST = Retry(backoff=0.01, max_wait=5)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKENS) as fake:
        fake.add_pull(REPO, 7)
        yield fake


def upsert(github: FakeGitHub, text: str, token: str = "ghs_actions_write", **options: object) -> Outcome:
    body = f"{MARKER}\n{text}\n"
    return upsert_comment(PR, body, marker=MARKER, token=token, api_url=github.url, retry=FAST, **options)  # type: ignore[arg-type]


def bot_comments(github: FakeGitHub, login: str = ACTIONS_BOT) -> list[str]:
    return [body for author, body in github.bodies(REPO, 7) if author == login]


def test_creates_then_edits_then_leaves_an_unchanged_comment_alone(github: FakeGitHub) -> None:
    assert upsert(github, "1 error") is Outcome.CREATED
    assert upsert(github, "no findings") is Outcome.UPDATED
    assert upsert(github, "no findings") is Outcome.UNCHANGED
    assert bot_comments(github) == [f"{MARKER}\nno findings\n"]
    assert (github.count("POST"), github.count("PATCH")) == (1, 1)


def test_finds_its_comment_on_a_later_page() -> None:
    with FakeGitHub(TOKENS, page_size=2) as github:
        github.add_pull(REPO, 7)
        for i in range(5):
            github.add_comment(REPO, 7, "reviewer", f"comment {i}")
        github.add_comment(REPO, 7, ACTIONS_BOT, f"{MARKER}\nold")
        assert upsert(github, "new") is Outcome.UPDATED
        assert github.count("GET", "/comments$") == 3  # pages of 2, 2 and 2: followed through Link headers
        assert github.count("POST") == 0 and bot_comments(github) == [f"{MARKER}\nnew\n"]


def test_a_person_quoting_the_marker_keeps_their_comment(github: FakeGitHub) -> None:
    quoted = f"Why does this say {MARKER}?"
    github.add_comment(REPO, 7, "reviewer", quoted)
    assert upsert(github, "1 error") is Outcome.CREATED
    assert github.bodies(REPO, 7) == [("reviewer", quoted), (ACTIONS_BOT, f"{MARKER}\n1 error\n")]


def test_a_personal_token_recognises_its_own_login(github: FakeGitHub) -> None:
    github.add_comment(REPO, 7, ACTIONS_BOT, f"{MARKER}\nanother workflow's")
    assert upsert(github, "1 error", token="ghp_maintainer") is Outcome.CREATED
    assert upsert(github, "fixed", token="ghp_maintainer") is Outcome.UPDATED
    assert bot_comments(github, "maintainer") == [f"{MARKER}\nfixed\n"]
    assert bot_comments(github) == [f"{MARKER}\nanother workflow's"]


def test_a_read_only_token_changes_nothing(github: FakeGitHub) -> None:
    assert upsert(github, "1 error", token="ghs_fork_readonly") is Outcome.READ_ONLY
    github.add_comment(REPO, 7, ACTIONS_BOT, f"{MARKER}\nold")
    assert upsert(github, "1 error", token="ghs_fork_readonly") is Outcome.READ_ONLY
    assert bot_comments(github) == [f"{MARKER}\nold"]


def test_nothing_to_report_posts_nothing_but_updates_an_old_comment(github: FakeGitHub) -> None:
    assert upsert(github, "no findings", create=False) is Outcome.NOT_NEEDED
    assert github.count("POST") == 0
    github.add_comment(REPO, 7, ACTIONS_BOT, f"{MARKER}\n1 error")
    assert upsert(github, "no findings", create=False) is Outcome.UPDATED


def test_reads_are_retried_on_5xx(github: FakeGitHub) -> None:
    github.fail("GET", r"/issues/7$", 502, times=2)
    github.fail("GET", r"/comments$", 503)
    assert upsert(github, "1 error") is Outcome.CREATED
    assert github.count("GET", r"/issues/7$") == 3


def test_a_post_that_failed_after_landing_is_not_sent_again(github: FakeGitHub) -> None:
    github.fail("POST", r"/comments$", 502, after=True)
    assert upsert(github, "1 error") is Outcome.CREATED
    assert github.count("POST") == 1 and len(bot_comments(github)) == 1


def test_a_post_that_failed_before_landing_is_sent_again(github: FakeGitHub) -> None:
    github.fail("POST", r"/comments$", 503)
    assert upsert(github, "1 error") is Outcome.CREATED
    assert github.count("POST") == 2 and len(bot_comments(github)) == 1


def test_waits_for_the_primary_rate_limit_to_reset(github: FakeGitHub) -> None:
    github.exhaust_rate_limit(reset_in=1)
    started = time.monotonic()
    assert upsert(github, "1 error") is Outcome.CREATED
    assert time.monotonic() - started >= 1
    assert len(bot_comments(github)) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_honours_retry_after_of_a_secondary_rate_limit(github: FakeGitHub, status: int) -> None:
    github.fail("POST", r"/comments$", status, headers={"Retry-After": "1"})
    assert upsert(github, "1 error") is Outcome.CREATED
    assert github.count("POST") == 2 and len(bot_comments(github)) == 1


def test_a_long_rate_limit_is_reported_not_slept_through(github: FakeGitHub) -> None:
    github.exhaust_rate_limit(reset_in=3600)
    with pytest.raises(GitHubError, match=r"^rate limited by 127\.0\.0\.1:\d+ \(HTTP 403\)"):
        upsert(github, "1 error")


def test_persistent_5xx_and_bad_tokens_are_one_line_errors_without_the_token(github: FakeGitHub) -> None:
    github.fail("GET", r"/issues/7$", 500, times=FAST.attempts)
    with pytest.raises(GitHubError) as server_down:
        upsert(github, "1 error")
    with pytest.raises(GitHubError) as refused:
        upsert(github, "1 error", token="ghp_not_a_real_token")
    assert str(refused.value).endswith("401 Bad credentials")
    for error in (server_down.value, refused.value):
        assert "\n" not in str(error) and "ghp_" not in str(error) and "ghs_" not in str(error)


def test_an_unreachable_api_is_a_one_line_error(github: FakeGitHub) -> None:
    with pytest.raises(GitHubError, match=r"^127\.0\.0\.1:9 did not answer \(ConnectionError\)$"):
        upsert_comment(PR, "x", marker=MARKER, token="ghs_actions_write", api_url="http://127.0.0.1:9", retry=FAST)


def test_the_token_travels_only_in_the_authorization_header(github: FakeGitHub) -> None:
    upsert(github, "1 error")
    assert {h["authorization"] for h in github.headers_seen} == {"token ghs_actions_write"}
    assert not any("ghs_" in path for _, path, _ in github.log)


def test_a_short_primary_rate_limit_is_waited_out_by_its_reset_second(github: FakeGitHub) -> None:
    reset = str(int(time.time()) + 1)
    github.fail("GET", r"/issues/7$", 403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert upsert(github, "1 error") is Outcome.CREATED
    assert len(bot_comments(github)) == 1


@pytest.mark.parametrize("retry_after", ["²", "9" * 5000, "soon", "-1"])
def test_a_garbled_retry_after_is_not_a_crash(github: FakeGitHub, retry_after: str) -> None:
    """Not a rate limit GitHub's way: the 403 is a refusal (a read-only token), answered at once, never retried."""
    github.fail("POST", r"/comments$", 403, headers={"Retry-After": retry_after})
    assert upsert(github, "1 error") is Outcome.READ_ONLY
    assert github.count("POST") == 1
