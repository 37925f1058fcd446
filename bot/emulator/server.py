"""A local Hugging Face Hub: a real HTTP server that the real huggingface_hub client can talk to.

It serves the repos of a directory (layout in `hublint.emulator.repos`) with the endpoints, headers and error codes
of the Hub (see README.md in this package for each endpoint and field and its source): model info and listing,
trees, ``/resolve/`` with ranges, discussions and ``whoami``. Admin endpoints under ``/_emulator/`` expose request
statistics and change the injected faults (`hublint.emulator.faults`, hostile mode included).

    with Emulator(root, tokens={"hf_test": "alice"}) as emu:
        HfApi(endpoint=emu.url, token="hf_test").model_info("owner/name")

Layout: `http` is the HTTP plumbing, `access` who may see what, `models` and `community` the endpoints; this
module routes a request to them, applies faults and runs the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hublint.emulator import discussions
from hublint.emulator.access import Access
from hublint.emulator.commits import CommitRoutes
from hublint.emulator.community import DiscussionRoutes
from hublint.emulator.discussions import DiscussionStore
from hublint.emulator.faults import FaultInjector, Faults, Hostile
from hublint.emulator.http import HubError, Request, Response, Server, Stats, error_response, json_response
from hublint.emulator.models import ModelRoutes
from hublint.emulator.repos import RepoStore

__all__ = ["Emulator", "Faults", "Hostile"]

MAX_PAGE_SIZE = 1000
# The Hub's page size for organization members is not documented; huggingface_hub follows `Link` pages there
# (`list_organization_members` uses `paginate`), so the emulator pages them, at the stingier of the two.
MEMBERS_PAGE_SIZE = 100
_ALLOWED_METHODS = {
    "discussions": ("GET", "POST"),
    "preupload": ("POST",),
    "commit": ("POST",),
    "validate_yaml": ("POST",),
    "org_members": ("GET",),
}


def route_kind(method: str, segments: list[str]) -> str:
    """What a request is, for statistics and rate-limit buckets."""
    if segments[:2] == ["api", "whoami-v2"] and len(segments) == 2:
        return "whoami"
    if segments == ["api", "validate-yaml"]:
        return "validate_yaml"
    if segments[:2] == ["api", "organizations"] and len(segments) == 4 and segments[3] == "members":
        return "org_members"
    if segments[:2] == ["api", "models"]:
        rest = segments[2:]
        if not rest or rest == [""]:
            return "list_models"
        if len(rest) == 2 or (len(rest) == 4 and rest[2] == "revision"):
            return "model_info"
        if len(rest) >= 4 and rest[2] == "tree":
            return "tree"
        if len(rest) >= 3 and rest[2] == "discussions":
            return "discussions"
        if len(rest) == 4 and rest[2] in ("preupload", "commit"):
            return rest[2]
    if len(segments) >= 5 and segments[2] == "resolve":
        return "resolve_head" if method == "HEAD" else "resolve_get"
    return "other"


def rate_limit_bucket(kind: str, segments: list[str]) -> str | None:
    if kind.startswith("resolve"):
        return "resolvers"
    return "api" if segments[0] == "api" else None


class HubApp:
    """Routing, faults and the admin endpoints; `Emulator` serves it over HTTP."""

    def __init__(
        self,
        root: Path,
        tokens: dict[str, str],
        faults: Faults,
        page_size: int,
        orgs: dict[str, list[str]],
        repos: RepoStore | None = None,
    ) -> None:
        repos = repos or RepoStore(root)
        store = DiscussionStore(root / ".emulator" / "discussions")
        self.access = Access(repos, store, tokens)
        self.commits = CommitRoutes(root, store, self.access, orgs, min(page_size, MEMBERS_PAGE_SIZE))
        self.models = ModelRoutes(repos, self.access, min(page_size, MAX_PAGE_SIZE), self.commits.pull_file)
        self.community = DiscussionRoutes(store, self.access)
        self.orgs = orgs
        self.faults = FaultInjector(faults)
        self.stats = Stats()

    def respond(self, method: str, target: str, headers: Message, body: bytes, base_url: str) -> tuple[str, Response]:
        """The response to one request and its route kind ("admin" requests are neither faulted nor counted)."""
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        segments = parts.path.strip("/").split("/")
        if segments[0] == "_emulator":
            request = Request(method, parts.path, query, headers, body, None, base_url)
            return "admin", self._admin(request)
        kind = route_kind(method, segments)
        hostile = self.faults.faults.hostile_for(parts.path)
        self.faults.sleep()
        bucket = rate_limit_bucket(kind, segments)
        limit = self.faults.take(bucket) if bucket else None
        try:
            if limit is not None and limit.exceeded:
                raise HubError(
                    429,
                    f"We had to rate limit you, you hit the quota of {limit.quota} {bucket} requests per "
                    f"{limit.window_seconds} seconds period. Retry after {limit.reset_in} seconds.",
                    headers={"Retry-After": str(limit.reset_in)},
                )
            injected = self.faults.pick_error()
            if injected is not None:
                raise HubError(injected, "Internal Error - We're working hard to fix this as soon as possible!")
            answer = hostile.answer(target) if hostile is not None else None
            if answer is not None:
                return kind, answer
            request = Request(method, parts.path, query, headers, body, self.access.user(headers), base_url)
            response = self._route(kind, request)
        except HubError as error:
            response = error_response(error)
        except Exception as error:
            # A broken fixture (say an unparsable .hub.json) should fail the client's call with a readable message,
            # not drop the connection.
            response = error_response(HubError(500, f"Emulator error: {error!r}"))
        if limit is not None:
            response.headers.update(limit.headers())
        if hostile is not None:
            hostile.spoil(response)
        return kind, response

    def _route(self, kind: str, request: Request) -> Response:
        handlers: dict[str, Callable[[Request], Response]] = {
            "whoami": self._whoami,
            "list_models": self.models.list_models,
            "model_info": self.models.model_info,
            "tree": self.models.tree,
            "discussions": self.community.route,
            "resolve_head": self.models.resolve,
            "resolve_get": self.models.resolve,
            "preupload": self.commits.preupload,
            "commit": self.commits.commit,
            "validate_yaml": self.commits.validate_yaml,
            "org_members": self.commits.members,
        }
        handler = handlers.get(kind)
        if handler is None:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        allowed = _ALLOWED_METHODS.get(kind, ("GET", "HEAD"))
        if request.method not in allowed:
            raise HubError(405, f"Method {request.method} not allowed", headers={"Allow": ", ".join(allowed)})
        return handler(request)

    def _whoami(self, request: Request) -> Response:
        if request.user is None:
            raise HubError(401, "Invalid username or password.")
        return json_response(
            {
                "type": "user",
                "id": discussions.user_json(request.user)["_id"],
                "name": request.user,
                "fullname": request.user,
                "orgs": [{"name": org, "type": "org"} for org, members in self.orgs.items() if request.user in members],
                "auth": {"type": "access_token", "accessToken": {"displayName": "emulator", "role": "write"}},
            }
        )

    def _admin(self, request: Request) -> Response:
        action = (request.method, request.segments[1:])
        if action == ("GET", ["stats"]):
            return json_response(self.stats.snapshot())
        if action == ("POST", ["reset-stats"]):
            self.stats.reset()
            return json_response(self.stats.snapshot())
        if action == ("POST", ["config"]):
            try:
                faults = self.faults.faults.merged(request.json())
            except (TypeError, ValueError) as error:
                return error_response(HubError(400, str(error)))
            self.faults.configure(faults)
            return json_response({"faults": faults.to_json()})
        return error_response(HubError(404, "Unknown admin endpoint"))

    # -- helpers --------------------------------------------------------------------------------------------------


class Emulator:
    """The Hub emulator: `start()` serves `root` on a background thread at `url` until `stop()`."""

    def __init__(
        self,
        root: Path,
        tokens: dict[str, str] | None = None,
        faults: Faults | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        orgs: dict[str, list[str]] | None = None,
        repos: RepoStore | None = None,  # the repos to serve, if not those on disk under `root`
    ) -> None:
        self.root = Path(root)
        self._app = HubApp(self.root, dict(tokens or {}), faults or Faults(), page_size, dict(orgs or {}), repos)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = Server((host, port), self._app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def set_faults(self, faults: Faults) -> None:
        self._app.faults.configure(faults)

    def stats(self) -> dict[str, Any]:
        return self._app.stats.snapshot()

    def reset_stats(self) -> None:
        self._app.stats.reset()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
