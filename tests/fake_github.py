"""A local fake of the GitHub REST API: what hublint's sticky PR comment needs, shaped as GitHub answers it.

Served on 127.0.0.1 for the real github3.py (research/github.md, "github3.py"): every body carries the keys
github3's models index (a thin body raises IncompleteResponse), URLs are absolute and point back here, comment
lists are paginated with `Link: rel="next"`, and every answer has the `X-RateLimit-*` headers. Tokens behave like
GitHub's kinds: a workflow's GITHUB_TOKEN (an installation token: `GET /user` is refused), a read-only one (a
pull request from a fork: writes are refused with 403), and a personal token. Faults can be injected per
method and path, before the request is applied or after it (a 502 for a POST that did create the comment), and
the primary rate limit can be exhausted until a reset time.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

RATE_LIMIT = 1000  # requests per hour for a repository's GITHUB_TOKEN
DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Token:
    login: str
    installation: bool = True  # GITHUB_TOKEN or an App token: `GET /user` answers 403
    write: bool = True  # False: the read-only token of a pull request from a fork


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    after: bool  # apply the request first, then answer with the fault


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.response = Response(status, {"message": message, "documentation_url": DOCS}, headers or {})


class FakeGitHub:
    """`with FakeGitHub(tokens) as gh:` serves at `gh.url` until the block ends."""

    def __init__(self, tokens: dict[str, Token], *, page_size: int = 30) -> None:
        self.tokens = tokens
        self.page_size = page_size  # GitHub's default; github3 asks for 100, and gets at most this many
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request answered
        self.headers_seen: list[dict[str, str]] = []
        self._faults: list[Fault] = []
        self._ids = itertools.count(1_000_001)
        self._remaining = RATE_LIMIT
        self._reset_at = int(time.time()) + 3600
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- test controls ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_pull(self, repository: str, number: int, author: str = "contributor") -> None:
        """A pull request: on GitHub its conversation is an issue with the same number."""
        self.issues[(repository, number)] = {"title": f"Update adapter #{number}", "author": author, "pull": True}
        self.comments[(repository, number)] = []

    def add_issue(self, repository: str, title: str, body: str, author: str) -> int:
        """An issue (not a pull request) as someone opened it; returns its number."""
        with self._lock:
            return self._new_issue(repository, title, body, author)

    def repository_issues(self, repository: str) -> list[dict[str, Any]]:
        """Every issue (not pull request) of the repository: number, title, body, author, state, edits."""
        return [
            {"number": number, **issue}
            for (repo, number), issue in sorted(self.issues.items())
            if repo == repository and not issue.get("pull", True)
        ]

    def add_comment(self, repository: str, number: int, login: str, body: str) -> dict[str, Any]:
        with self._lock:
            return self._new_comment(repository, number, login, body)

    def bodies(self, repository: str, number: int) -> list[tuple[str, str]]:
        """(author, body) of every comment on the pull request, oldest first."""
        return [(c["user"], c["body"]) for c in self.comments[(repository, number)]]

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next `times` requests matching `method` and the `path` regex with `status`."""
        self._faults.append(Fault(method, re.compile(path), status, times, headers or {}, after))

    def exhaust_rate_limit(self, reset_in: int) -> None:
        """Use up the primary rate limit; it resets `reset_in` seconds from now."""
        self._remaining = 0
        self._reset_at = int(time.time()) + reset_in

    def count(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, path, _ in self.log if m == method and re.search(pattern, path))

    # --- serving ------------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        # A short poll interval: shutdown() waits for the loop's next look, and every test stops a server.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        with self._lock:
            self.headers_seen.append(headers)
            fault = self._take_fault(method, path)
            if fault is None or fault.after:
                try:
                    token = self._authenticate(headers)
                    self._spend_rate_limit()
                    response = self._route(method, path, query, token, body)
                except ApiError as exc:
                    response = exc.response
            if fault is not None:
                response = Response(fault.status, {"message": f"injected HTTP {fault.status}"}, dict(fault.headers))
            response.headers = {**self._rate_headers(), **response.headers}
            self.log.append((method, path, response.status))
            return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.path.search(path):
                fault.times -= 1
                return fault
        return None

    def _authenticate(self, headers: dict[str, str]) -> Token:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        token = self.tokens.get(value) if scheme.lower() in ("token", "bearer") else None
        if token is None:
            raise ApiError(401, "Bad credentials")
        return token

    def _spend_rate_limit(self) -> None:
        if self._remaining == 0 and time.time() < self._reset_at:
            raise ApiError(403, "API rate limit exceeded for installation ID 1.")
        if self._remaining == 0:
            self._remaining, self._reset_at = RATE_LIMIT, int(time.time()) + 3600
        self._remaining -= 1

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(self._remaining),
            "X-RateLimit-Reset": str(self._reset_at),
            "X-RateLimit-Used": str(RATE_LIMIT - self._remaining),
            "X-RateLimit-Resource": "core",
        }

    def _route(self, method: str, path: str, query: dict[str, list[str]], token: Token, body: bytes) -> Response:
        if (method, path) == ("GET", "/user"):
            if token.installation:
                raise ApiError(403, "Resource not accessible by integration")
            return Response(200, self._authenticated_user(token.login))
        listing = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues", path)
        if listing is not None:
            return self._issues(method, listing.group(1), query, token, body)
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(?:(\d+)(/comments)?|comments/(\d+))", path)
        if match is None:
            raise ApiError(404, "Not Found")
        repository, number, comments, comment_id = match.groups()
        if comment_id is not None and method == "PATCH":
            return self._edit_comment(repository, int(comment_id), token, _json_body(body))
        if number is None or (repository, int(number)) not in self.issues:
            raise ApiError(404, "Not Found")
        key = (repository, int(number))
        if comments and method == "GET":
            return self._comment_page(key, query)
        if comments and method == "POST":
            self._require_write(token)
            text = _json_body(body).get("body")
            if not isinstance(text, str) or not text:
                raise ApiError(422, "Validation Failed")
            return Response(201, self._comment_json(self._new_comment(*key, token.login, text)))
        if not comments and method == "GET":
            return Response(200, self._issue_json(key))
        if not comments and method == "PATCH":
            self._require_write(token)
            data = _json_body(body)
            _check_body(data.get("body", ""))
            changes = {name: data[name] for name in ("title", "body", "state") if isinstance(data.get(name), str)}
            self.issues[key].update(changes, edits=self.issues[key].get("edits", 0) + 1)
            return Response(200, self._issue_json(key))
        raise ApiError(404, "Not Found")

    def _issues(self, method: str, repository: str, query: dict[str, list[str]], token: Token, body: bytes) -> Response:
        """GET lists a repository's issues and pull requests, newest first, paginated; POST opens an issue."""
        if method == "POST":
            self._require_write(token)
            data = _json_body(body)
            title, text = data.get("title"), data.get("body", "")
            if not isinstance(title, str) or not title:
                raise ApiError(422, "Validation Failed")
            _check_body(text)
            return Response(201, self._issue_json((repository, self._new_issue(repository, title, text, token.login))))
        if method != "GET":
            raise ApiError(404, "Not Found")
        state = query.get("state", ["open"])[0]
        # GitHub sorts by creation, newest first, unless `direction=asc` (the `sort` values other than `created`
        # are not modelled: nothing here asks for them)
        oldest_first = query.get("direction", ["desc"])[0] == "asc"
        keys = [
            key
            for key in sorted(self.issues, key=lambda k: k[1] if oldest_first else -k[1])
            if key[0] == repository and state in ("all", self.issues[key].get("state", "open"))
        ]
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, self.page_size)
        page = int(query.get("page", ["1"])[0])
        headers = {}
        if page * per_page < len(keys):
            kept = "".join(f"{key}={query[key][0]}&" for key in ("state", "sort", "direction") if key in query)
            base = f"{self.url}/repos/{repository}/issues"
            headers["Link"] = f'<{base}?{kept}per_page={per_page}&page={page + 1}>; rel="next"'
        items = keys[(page - 1) * per_page : page * per_page]
        return Response(200, [self._issue_json(key) for key in items], headers)

    def _new_issue(self, repository: str, title: str, body: str, author: str) -> int:
        number = max((n for (repo, n) in self.issues if repo == repository), default=0) + 1
        self.issues[(repository, number)] = {"title": title, "body": body, "author": author, "state": "open"}
        self.issues[(repository, number)]["pull"] = False
        self.comments[(repository, number)] = []
        return number

    def _require_write(self, token: Token) -> None:
        if not token.write:
            raise ApiError(403, "Resource not accessible by integration")

    def _new_comment(self, repository: str, number: int, login: str, body: str) -> dict[str, Any]:
        now = _timestamp()
        comment = {"id": next(self._ids), "repository": repository, "number": number, "user": login, "body": body}
        comment.update(created_at=now, updated_at=now)
        self.comments[(repository, number)].append(comment)
        return comment

    def _edit_comment(self, repository: str, comment_id: int, token: Token, data: dict[str, Any]) -> Response:
        found = [
            c for (repo, _), cs in self.comments.items() if repo == repository for c in cs if c["id"] == comment_id
        ]
        if not found:
            raise ApiError(404, "Not Found")
        self._require_write(token)
        comment = found[0]
        if comment["user"] != token.login:
            raise ApiError(403, "You must be the author of this comment to edit it")  # no admin rights here
        comment.update(body=data.get("body", comment["body"]), updated_at=_timestamp())
        return Response(200, self._comment_json(comment))

    def _comment_page(self, key: tuple[str, int], query: dict[str, list[str]]) -> Response:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, self.page_size)
        page = int(query.get("page", ["1"])[0])
        items = self.comments[key][(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(self.comments[key]):
            base = f"{self.url}/repos/{key[0]}/issues/{key[1]}/comments"
            headers["Link"] = f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"'
        return Response(200, [self._comment_json(c) for c in items], headers)

    # --- GitHub's JSON shapes (the keys github3.py's models read) --------------------------------------------------

    def _user_json(self, login: str) -> dict[str, Any]:
        api = f"{self.url}/users/{login}"
        return {
            "login": login,
            "id": abs(hash(login)) % 10_000_000,
            "node_id": f"U_{login}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.url}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def _authenticated_user(self, login: str) -> dict[str, Any]:
        return {
            **self._user_json(login),
            **dict.fromkeys(("name", "company", "blog", "location", "email", "hireable", "bio")),
            "public_repos": 3,
            "public_gists": 0,
            "followers": 1,
            "following": 1,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }

    def _issue_json(self, key: tuple[str, int]) -> dict[str, Any]:
        repository, number = key
        issue = self.issues[key]
        api = f"{self.url}/repos/{repository}/issues/{number}"
        pull = issue.get("pull", True)
        html = f"{self.url}/{repository}/{'pull' if pull else 'issues'}/{number}"
        body = issue.get("body", "Retrained the adapter.")
        data = {
            "url": api,
            "repository_url": f"{self.url}/repos/{repository}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": html,
            "id": number * 1000 + 7,
            "node_id": f"PR_{number}",
            "number": number,
            "title": issue["title"],
            "user": self._user_json(issue["author"]),
            "labels": [],
            "state": issue.get("state", "open"),
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(self.comments[key]),
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": _timestamp(),
            "closed_at": None,
            "closed_by": None,
            "author_association": "CONTRIBUTOR",
            "body": body,
            "body_html": f"<p>{body[:200]}</p>",
            "body_text": body,
        }
        if pull:
            data["pull_request"] = {
                "url": f"{self.url}/repos/{repository}/pulls/{number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": None,
            }
        return data

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        repository, number = comment["repository"], comment["number"]
        return {
            "url": f"{self.url}/repos/{repository}/issues/comments/{comment['id']}",
            "html_url": f"{self.url}/{repository}/pull/{number}#issuecomment-{comment['id']}",
            "issue_url": f"{self.url}/repos/{repository}/issues/{number}",
            "id": comment["id"],
            "node_id": f"IC_{comment['id']}",
            "user": self._user_json(comment["user"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": "NONE" if comment["user"].endswith("[bot]") else "CONTRIBUTOR",
            "body": comment["body"],
            "body_html": f"<p>{comment['body'][:200]}</p>",
            "body_text": comment["body"],
        }


def _handler(api: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = api.handle(self.command, self.path, headers, body)
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test output stays readable; `api.log` keeps every request

    return Handler


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    return data if isinstance(data, dict) else {}


def _check_body(body: object) -> None:
    """GitHub refuses an issue body over 65,536 characters with 422 (research/dashboard.md §3)."""
    if not isinstance(body, str) or len(body) > 65_536:
        raise ApiError(422, "Validation Failed: body is too long (maximum is 65536 characters)")


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
