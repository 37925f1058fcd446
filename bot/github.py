"""GitHub through github3.py: hublint's one sticky comment on a pull request, and its one living dashboard issue
per repository. The only module importing github3.

The comment is found again by a hidden marker *and* by its author (the token's own account), so a person who
quotes the marker never has their comment overwritten; it is edited only when its text changed, so a re-run
with the same findings notifies nobody. github3.py does not retry, so urllib3's Retry does: on rate limits
(`Retry-After`, `X-RateLimit-Reset`) for every method, and on 5xx for the methods that are safe to repeat. A POST
answered with 5xx may still have created the comment, so the comments are read again before a second POST.
The token only ever travels in the Authorization header; no message built here contains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import github3
from github3.exceptions import ForbiddenError, GitHubException, ServerError, TransportError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util import Retry as UrllibRetry

from hublint.errors import GitHubError
from hublint.rules.numbers import parse_int

PUBLIC_API = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"  # who a workflow's GITHUB_TOKEN writes as; that token may not read /user
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({403, 429})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})  # PATCH sets the same body again


class Outcome(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOT_NEEDED = "not-needed"  # nothing to report and no earlier comment to bring up to date
    READ_ONLY = "read-only"  # the token may read but not write: a pull request from a fork


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
        if _rate_limit_wait(exc.code, exc.response.headers) is not None:
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
            number = _create_issue(gh, api_url, repository, title, body)
            return IssueOutcome(Outcome.CREATED, number, ticked, unticked)
        if _same_text(mine.body, body):
            return IssueOutcome(Outcome.UNCHANGED, mine.number, ticked, unticked)
        mine.edit(body=body)
        return IssueOutcome(Outcome.UPDATED, mine.number, ticked, unticked)
    except ForbiddenError as exc:
        raise _forbidden(repository, exc.code, exc.response.headers) from None
    except TransportError as exc:
        raise GitHubError(f"{_host(api_url)} did not answer ({type(exc.exception).__name__})") from None
    except GitHubException as exc:
        raise GitHubError(f"{repository}: {_one_line(exc)}") from None


def _create_issue(gh: github3.GitHub, api_url: str, repository: str, title: str, body: str) -> int:
    """POST the issue on github3's (retrying, authenticated) session: `Repository.create_issue` would GET the
    whole repository first, one request more per run."""
    url = f"{api_url.rstrip('/')}/repos/{repository}/issues"
    response = gh.session.post(url, json={"title": title, "body": body})
    if response.status_code in (403, 429):
        raise _forbidden(repository, response.status_code, response.headers)
    number = parse_int(str(_json_field(response, "number"))) if response.status_code == 201 else None
    if number is None:
        raise GitHubError(f"{repository}: creating the issue answered HTTP {response.status_code}")
    return number


def _json_field(response: Any, key: str) -> object:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None


def _forbidden(repository: str, status: int, headers: Mapping[str, str]) -> GitHubError:
    reason = "rate limited" if _rate_limit_wait(status, headers) is not None else "the token may not write issues"
    return GitHubError(f"{repository}: {reason} (HTTP {status})")


def _find_issue(gh: github3.GitHub, owner: str, name: str, title: str, marker: str, author: str) -> Any | None:
    """The oldest open issue with this exact title, by `author`, carrying `marker` (pull requests are issues too)."""
    for issue in gh.issues_on(owner, name, state="open", sort="created", direction="asc"):
        if issue.title == title and issue.user.login == author and marker in (issue.body or ""):
            return issue  # oldest first: no page after the match is read
    return None


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
    adapter = HTTPAdapter(max_retries=_GitHubRetry.from_options(retry))
    gh.session.mount("https://", adapter)
    gh.session.mount("http://", adapter)
    return gh


class _GitHubRetry(UrllibRetry):
    """urllib3's Retry (5xx of idempotent methods, with backoff), plus GitHub's rate limits for every method.

    A rate limit is a 403 or 429 whose headers say how long to wait (`_rate_limit_wait`); a wait longer than
    `max_wait`, or a 403 that is a plain refusal, goes to github3 at once.
    """

    def __init__(self, *args: Any, max_wait: float = 90.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    @classmethod
    def from_options(cls, retry: Retry) -> _GitHubRetry:
        return cls(
            total=retry.attempts - 1,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=IDEMPOTENT,
            backoff_factor=retry.backoff,
            raise_on_status=False,  # the last answer goes to github3, which raises its typed error
            max_wait=retry.max_wait,
        )

    def new(self, **kw: Any) -> _GitHubRetry:
        fresh = super().new(**kw)
        fresh.max_wait = self.max_wait
        return fresh

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in RATE_LIMIT_STATUSES:
            return bool(self.total)  # every method; `increment` decides with the headers
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, *args: Any, **kwargs: Any) -> _GitHubRetry:
        response = kwargs.get("response")
        if response is not None and response.status in RATE_LIMIT_STATUSES:
            wait = _rate_limit_wait(response.status, response.headers)
            if wait is None or wait > self.max_wait:
                raise MaxRetryError(kwargs.get("_pool"), kwargs.get("url") or "", None)  # no retry: github3 reports it
        return super().increment(*args, **kwargs)

    def get_retry_after(self, response: Any) -> float | None:
        return _rate_limit_wait(response.status, response.headers)


def _rate_limit_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """How long GitHub asks us to wait, if this is a rate-limit answer (403 or 429), else None.

    Secondary limits send `Retry-After`; the primary limit sends `X-RateLimit-Remaining: 0` with the epoch second
    of the reset. GitHub's advice for a secondary limit without `Retry-After` is to wait at least a minute.
    """
    if status not in RATE_LIMIT_STATUSES:
        return None
    retry_after = parse_int(headers.get("Retry-After"))
    if retry_after is not None:
        return float(retry_after)
    reset = parse_int(headers.get("X-RateLimit-Reset"))
    if headers.get("X-RateLimit-Remaining") == "0" and reset is not None:
        return max(0.0, reset - time.time()) + 1.0  # the reset second itself may still be limited
    return 60.0 if status == 429 else None


def _one_line(exc: GitHubException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
