"""The Hub's community endpoints: list, read, open, comment on and close discussions.

Shapes from huggingface_hub `hf_api.py` (`get_repo_discussions`, `create_discussion`, `comment_discussion`,
`change_discussion_status`) and `community.py`; research/hub.md §2.4.
"""

from __future__ import annotations

from typing import Any

from hublint.emulator import discussions
from hublint.emulator.access import Access, refuse_disabled
from hublint.emulator.discussions import DiscussionStore
from hublint.emulator.http import HubError, Request, Response, json_response, positive_int
from hublint.emulator.repos import Repo


class DiscussionRoutes:
    def __init__(self, store: DiscussionStore, access: Access) -> None:
        self.store, self.access = store, access

    def route(self, request: Request) -> Response:
        _, _, owner, name, _, *rest = request.segments
        repo = self.access.visible_repo(request, owner, name)
        if not rest:
            if request.method == "GET":
                return self._list_discussions(request, repo)
            return self._create_discussion(request, repo)
        record = self.store.get(repo.repo_id, int(rest[0])) if rest[0].isdigit() else None
        if record is None:
            raise HubError(404, f"Discussion {rest[0]} not found")
        action = (request.method, rest[1:])
        if action == ("GET", []):
            return json_response(discussions.details_json(record, repo.repo_id))
        if action == ("POST", ["comment"]):
            return self._comment(request, repo, record)
        if action == ("POST", ["status"]):
            return self._change_status(request, repo, record)
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def _list_discussions(self, request: Request, repo: Repo) -> Response:
        kind = request.param("type") or "all"
        status = request.param("status") or "all"
        author = request.param("author")
        selected = [
            record
            for record in self.store.all(repo.repo_id)
            if discussions.matches(record, kind=kind, status=status, author=author)
        ]
        start = positive_int(request.param("p"), default=0, minimum=0) * discussions.PAGE_SIZE
        page = selected[start : start + discussions.PAGE_SIZE]
        return json_response(
            {
                "discussions": [discussions.summary_json(record, repo.repo_id) for record in page],
                "count": len(selected),
                "start": start,
            }
        )

    def _writer(self, request: Request, repo: Repo) -> str:
        """The authenticated user allowed to write to this repo's community tab."""
        if request.user is None:
            raise HubError(401, "You must be authenticated to do that.")
        refuse_disabled(repo)
        if repo.settings.discussions_disabled:
            raise HubError(403, "Discussions are disabled for this repo")
        return request.user

    def _create_discussion(self, request: Request, repo: Repo) -> Response:
        author = self._writer(request, repo)
        body = request.json()
        title = str(body.get("title") or "").strip()
        if not title:
            raise HubError(400, "Title is required")
        record = self.store.create(
            repo.repo_id,
            author=author,
            title=title,
            description=str(body.get("description") or ""),
            pull_request=bool(body.get("pullRequest", False)),
        )
        return json_response(discussions.summary_json(record, repo.repo_id))

    def _comment(self, request: Request, repo: Repo, record: dict[str, Any]) -> Response:
        author = self._writer(request, repo)
        text = str(request.json().get("comment") or "")
        if not text.strip():
            raise HubError(400, "Comment cannot be empty")
        event = discussions.comment_event(author, text)
        self.store.append(repo.repo_id, record["num"], [event])
        return json_response({"newMessage": event})

    def _change_status(self, request: Request, repo: Repo, record: dict[str, Any]) -> Response:
        author = self._writer(request, repo)
        body = request.json()
        status = body.get("status")
        if status not in ("open", "closed"):
            raise HubError(400, f"Invalid status: {status}")
        if author not in (record["author"], repo.owner):
            raise HubError(403, "Only the author of the discussion or the repo owner can change its status")
        if record["status"] == status:
            raise HubError(400, f"Discussion is already {status}")
        events = [discussions.comment_event(author, body["comment"])] if body.get("comment") else []
        events.append(discussions.status_event(author, status))
        self.store.append(repo.repo_id, record["num"], events, status=status)
        return json_response({"newStatus": events[-1]})

    # -- admin ----------------------------------------------------------------------------------------------------
