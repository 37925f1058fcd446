"""GitHub through github3.py: hublint's one sticky comment on a pull request, and its one living dashboard issue
per repository. The only module importing github3.

The comment is found again by a hidden marker *and* by its author (the token's own account), so a person who
quotes the marker never has their comment overwritten; it is edited only when its text changed, so a re-run
with the same findings notifies nobody. github3.py does not retry, so a requests adapter does: on rate limits
(`Retry-After`, `X-RateLimit-Reset`) for every method, and on 5xx for the methods that are safe to repeat. A POST
answered with 5xx may still have created the comment, so the comments are read again before a second POST.
The token only ever travels in the Authorization header; no message built here contains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import github3
import requests
from github3.exceptions import ForbiddenError, GitHubException, ServerError, TransportError
from requests.adapters import HTTPAdapter

PUBLIC_API = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"  # who a workflow's GITHUB_TOKEN writes as; that token may not read /user
RETRY_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})  # PATCH sets the same body again


class Outcome(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOT_NEEDED = "not-needed"  # nothing to report and no earlier comment to bring up to date
    READ_ONLY = "read-only"  # the token may read but not write: a pull request from a fork


class GitHubError(Exception):
    """GitHub could not be reached or refused for another reason than a read-only token: one line."""


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name
    number: int


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    backoff: float = 1.0  # seconds before the first retry after a 5xx; doubles each time
    max_wait: float = 90.0  # a longer wait for a rate limit is reported instead of slept through


def upsert_comment(
    pr: PullRequest,
    body: str,
    *,
    marker: str,
    token: str,
    api_url: str = PUBLIC_API,
    create: bool = True,
    retry: Retry | None = None,
) -> Outcome:
    """Make `body` (which contains `marker`) the bot's one comment on `pr`; `create=False` only updates."""
    gh = _client(token, api_url, retry or Retry())
    try:
        return _upsert(gh, pr, body, marker, create)
    except ForbiddenError as exc:
        if _rate_limit_wait(exc.response) is not None:
            raise GitHubError(f"rate limited by {_host(api_url)} (HTTP {exc.code}); try again later") from None
        return Outcome.READ_ONLY
    except TransportError as exc:
        raise GitHubError(f"{_host(api_url)} did not answer ({type(exc.exception).__name__})") from None
    except GitHubException as exc:
        raise GitHubError(f"{_host(api_url)}: {_one_line(exc)}") from None


def _upsert(gh: github3.GitHub, pr: PullRequest, body: str, marker: str, create: bool) -> Outcome:
    owner, _, name = pr.repository.partition("/")
    issue = gh.issue(owner, name, pr.number)  # a pull request's conversation is its issue
    if issue is None:
        raise GitHubError(f"{pr.repository}#{pr.number} not found")
    author = _author(gh)
    mine = _find(issue, marker, author)
    if mine is None:
        if not create:
            return Outcome.NOT_NEEDED
        _create(issue, body, marker, author)
        return Outcome.CREATED
    if _same_text(mine.body, body):
        return Outcome.UNCHANGED
    mine.edit(body)
    return Outcome.UPDATED


@dataclass(frozen=True)
class IssueOutcome:
    outcome: Outcome
    number: int
    ticked: frozenset[str]  # checklist keys ticked in the issue as it was before this run
    unticked: frozenset[str]  # checklist keys present but not ticked


def upsert_issue(
    repository: str,
    title: str,
    render: Callable[[frozenset[str], frozenset[str]], str],
    *,
    marker: str,
    read_checklist: Callable[[str], tuple[frozenset[str], frozenset[str]]],
    token: str,
    api_url: str = PUBLIC_API,
    retry: Retry | None = None,
) -> IssueOutcome:
    """Keep the bot's one open issue titled `title` (with `marker` in its body) in `repository` up to date, the
    way Renovate keeps its Dependency Dashboard: read its checklist, render the new body knowing which boxes are
    ticked and which are not (`render(ticked, unticked)`), write only if the text changed. `read_checklist(body)`
    returns the (ticked, unticked) keys of a body."""
    gh = _client(token, api_url, retry or Retry())
    owner, _, name = repository.partition("/")
    try:
        mine = _find_issue(gh, owner, name, title, marker, _author(gh))
        ticked, unticked = read_checklist(mine.body or "") if mine is not None else (frozenset(), frozenset())
        body = render(ticked, unticked)
        if mine is None:
            url = gh._build_url("repos", owner, name, "issues")  # github3's create_issue GETs the repo first
            created = gh._json(gh._post(url, data={"title": title, "body": body}), 201)
            return IssueOutcome(Outcome.CREATED, int(created["number"]), ticked, unticked)
        if _same_text(mine.body, body):
            return IssueOutcome(Outcome.UNCHANGED, mine.number, ticked, unticked)
        mine.edit(body=body)
        return IssueOutcome(Outcome.UPDATED, mine.number, ticked, unticked)
    except ForbiddenError as exc:
        wait = _rate_limit_wait(exc.response)
        reason = "rate limited" if wait is not None else "the token may not write issues"
        raise GitHubError(f"{repository}: {reason} (HTTP {exc.code})") from None
    except TransportError as exc:
        raise GitHubError(f"{_host(api_url)} did not answer ({type(exc.exception).__name__})") from None
    except GitHubException as exc:
        raise GitHubError(f"{repository}: {_one_line(exc)}") from None


def _find_issue(gh: github3.GitHub, owner: str, name: str, title: str, marker: str, author: str) -> Any | None:
    """The oldest open issue with this exact title, by `author`, carrying `marker` (pull requests are issues too)."""
    found = None
    for issue in gh.issues_on(owner, name, state="open"):
        if issue.title == title and issue.user.login == author and marker in (issue.body or ""):
            found = issue  # the listing is newest first: keep going to the oldest
    return found


def _author(gh: github3.GitHub) -> str:
    try:
        user = gh.me()
    except ForbiddenError:  # "Resource not accessible by integration": an Actions or App installation token
        return ACTIONS_BOT
    return user.login if user is not None else ACTIONS_BOT


def _find(issue: Any, marker: str, author: str) -> Any | None:
    """The oldest comment by `author` that carries `marker`, reading every page of comments."""
    for comment in issue.comments():
        if comment.user.login == author and marker in (comment.body or ""):
            return comment
    return None


def _create(issue: Any, body: str, marker: str, author: str) -> None:
    try:
        issue.create_comment(body)
    except ServerError:
        if _find(issue, marker, author) is None:  # the failed POST did not land after all: post once more
            issue.create_comment(body)


def _same_text(old: str | None, new: str) -> bool:
    """GitHub may hand a body back with CRLF line ends or without the trailing newline it was sent with."""
    return (old or "").replace("\r\n", "\n").strip() == new.replace("\r\n", "\n").strip()


def _client(token: str, api_url: str, retry: Retry) -> github3.GitHub:
    gh = github3.GitHub(token=token)
    gh.session.base_url = api_url.rstrip("/")  # GitHub Enterprise: GITHUB_API_URL already ends in /api/v3
    adapter = _RetryingAdapter(retry)
    gh.session.mount("https://", adapter)
    gh.session.mount("http://", adapter)
    return gh


class _RetryingAdapter(HTTPAdapter):
    def __init__(self, retry: Retry) -> None:
        super().__init__()
        self.retry = retry

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        for attempt in range(self.retry.attempts - 1):
            response = super().send(request, **kwargs)
            wait = self._wait(request, response, attempt)
            if wait is None:
                return response
            response.close()
            time.sleep(wait)
        return super().send(request, **kwargs)

    def _wait(self, request: requests.PreparedRequest, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to hand this response to github3."""
        wait = _rate_limit_wait(response)
        if wait is None and response.status_code in RETRY_STATUSES and request.method in IDEMPOTENT:
            wait = self.retry.backoff * 2**attempt
        return wait if wait is not None and wait <= self.retry.max_wait else None


def _rate_limit_wait(response: requests.Response) -> float | None:
    """How long GitHub asks us to wait, if this is a rate-limit answer (403 or 429), else None.

    Secondary limits send `Retry-After`; the primary limit sends `X-RateLimit-Remaining: 0` with the epoch second
    of the reset. GitHub's advice for a secondary limit without `Retry-After` is to wait at least a minute.
    """
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("Retry-After", "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    reset = headers.get("X-RateLimit-Reset", "").strip()
    if headers.get("X-RateLimit-Remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1.0  # the reset second itself may still be limited
    if response.status_code == 429 or "secondary rate limit" in response.text.lower():
        return 60.0
    return None


def _one_line(exc: GitHubException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
