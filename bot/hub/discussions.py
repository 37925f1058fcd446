"""A repo's community tab (research/hub.md §2.4), through the one HTTP stack: counted, paced and typed like every
other Hub request.

Reads are retried like any GET. Writes (create, comment) are sent once: the Hub does not say whether a create that
failed was written, so the failure is reported and the next run finds any discussion that was written by listing
the bot's own first. Replies are read defensively: a field missing or of the wrong type is a one-line HubError.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from hublint.errors import DiscussionsDisabled, HubAuthError, HubError, HubNotFound
from hublint.hub.client import HubClient

# An organization of more members than these pages hold has the rest's commands ignored (fail-safe: only owners
# may command the bot); at the Hub's page sizes that is thousands of members, one request per page.
MAX_MEMBER_PAGES = 20

OPEN_DISCUSSION_STATUSES = frozenset({"open", "draft"})
MAX_PAGES = 100  # 50 discussions a page: a repo with more than 5,000 is not one the bot should ever post in


@dataclasses.dataclass(frozen=True)
class DiscussionMessage:
    author: str
    text: str  # raw Markdown, as posted


@dataclasses.dataclass(frozen=True)
class Discussion:
    num: int
    title: str
    status: str  # open | closed | merged | draft
    author: str
    messages: tuple[DiscussionMessage, ...] = ()  # from `HubDiscussions.details`: the opening post, then comments

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISCUSSION_STATUSES


class HubDiscussions:
    """Discussions on one Hub as the client's token's user."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.endpoint = client.endpoint
        self._me: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.client.authenticated

    def whoami(self) -> str | None:
        """The token's user (None without a token); asked once, as the Hub rate-limits /whoami-v2 strictly."""
        if not self.authenticated:
            return None
        if self._me is None:
            reply = self.client.get(f"{self.endpoint}/api/whoami-v2", what="whoami").json_object("/api/whoami-v2")
            self._me = _text(reply, "name", "whoami")
        return self._me

    def list(self, repo_id: str, author: str | None = None) -> list[Discussion]:
        """Discussions and pull requests, newest first; `author` filters on the Hub's side."""
        found: list[Discussion] = []
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {"p": page} | ({"author": author} if author else {})
            reply = self._get(self._path(repo_id), repo_id, params)
            entries = reply.get("discussions")
            if not isinstance(entries, list):
                raise HubError(f"{repo_id}: the Hub's discussion list has no `discussions` array")
            found += [_discussion(entry, repo_id) for entry in entries]
            count, start = reply.get("count"), reply.get("start")
            if not entries or not isinstance(count, int) or not isinstance(start, int) or start + len(entries) >= count:
                break
        return found

    def details(self, repo_id: str, num: int) -> Discussion:
        what = f"{repo_id} discussion #{num}"
        reply = self._get(f"{self._path(repo_id)}/{num}", what)
        events = reply.get("events")
        messages = tuple(
            DiscussionMessage(_author(event), _comment_text(event, what))
            for event in (events if isinstance(events, list) else [])
            if isinstance(event, dict) and event.get("type") == "comment"
        )
        return dataclasses.replace(_discussion(reply, what), messages=messages)

    def create(self, repo_id: str, title: str, body: str) -> int:
        payload = {"title": title.strip(), "description": body, "pullRequest": False}
        reply = self._post(self._path(repo_id), repo_id, payload)
        num = reply.get("num")
        if not isinstance(num, int) or isinstance(num, bool):
            raise HubError(f"{repo_id}: the Hub created a discussion but did not say its number")
        return num

    def comment(self, repo_id: str, num: int, body: str) -> None:
        self._post(f"{self._path(repo_id)}/{num}/comment", f"{repo_id} discussion #{num}", {"comment": body})

    def open_pull_request(self, repo_id: str, title: str, body: str, files: Mapping[str, bytes]) -> int:
        """One commit on a new pull request, as `HfApi.create_commit(..., create_pr=True)` sends it for small files:
        the preupload call (which files go as regular blobs), then the NDJSON commit with `create_pr=1`."""
        api = f"{self.endpoint}/api/models/{quote(repo_id)}"
        sizes = [{"path": p, "sample": base64.b64encode(c[:512]).decode(), "size": len(c)} for p, c in files.items()]
        modes = self._post(f"{api}/preupload/main", repo_id, {"files": sizes}, params={"create_pr": "1"})
        listed = modes.get("files")
        if not isinstance(listed, list) or any(
            not isinstance(f, dict) or f.get("uploadMode") != "regular" for f in listed
        ):
            raise HubError(f"{repo_id}: the Hub wants these files as LFS uploads, which a metadata fix never needs")
        lines = [{"key": "header", "value": {"summary": title, "description": body}}]
        lines += [
            {"key": "file", "value": {"content": base64.b64encode(c).decode(), "path": p, "encoding": "base64"}}
            for p, c in files.items()
        ]
        ndjson = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        reply = self.client.send(
            "POST",
            f"{api}/commit/main",
            what=f"{repo_id} pull request",
            params={"create_pr": "1"},
            headers={"Content-Type": "application/x-ndjson"},
            content=ndjson,
        ).json_object(f"{repo_id} pull request")
        url = reply.get("pullRequestUrl")
        num = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else ""
        if not num.isdigit():
            raise HubError(f"{repo_id}: the Hub made a commit but did not say which pull request")
        return int(num)

    def members(self, org: str) -> frozenset[str]:
        """The organization's members, page by page as `list_organization_members` reads them (Link: rel="next"),
        up to MAX_MEMBER_PAGES; empty when `org` is a user (404)."""
        url: str | None = f"{self.endpoint}/api/organizations/{quote(org)}/members"
        names: set[str] = set()
        for _ in range(MAX_MEMBER_PAGES):
            if url is None:
                break
            try:
                reply = self.client.get(url, what=f"members of {org}")
            except HubError as exc:
                if isinstance(exc, HubNotFound) or exc.status == 404:  # a user, not an organization
                    return frozenset()
                raise
            entries = reply.json(f"members of {org}")
            for entry in entries if isinstance(entries, list) else ():
                name = entry.get("user") if isinstance(entry, dict) else None
                if isinstance(name, str):
                    names.add(name)
            url = reply.next_page
        return frozenset(names)

    def url(self, repo_id: str, num: int) -> str:
        return f"{self.endpoint}/{repo_id}/discussions/{num}"

    def _path(self, repo_id: str) -> str:
        return f"{self.endpoint}/api/models/{quote(repo_id)}/discussions"

    def _get(self, url: str, what: str, params: Any = None) -> dict[str, Any]:
        return self.client.get(url, what=what, params=params).json_object(what)

    def _post(self, url: str, what: str, payload: dict[str, Any], params: Any = None) -> dict[str, Any]:
        try:
            reply = self.client.send("POST", url, what=what, payload=payload, params=params)
        except HubAuthError as exc:
            # A 403 with a valid token where the owner turned the community tab off: permanent for this repo.
            if exc.status == 403 and self.authenticated:
                refusal = exc.server_message or "forbidden"
                raise DiscussionsDisabled(f"{what}: the Hub refuses discussions there (HTTP 403: {refusal})") from None
            raise
        return reply.json_object(what) if reply.content.strip() else {}


def _discussion(entry: Any, what: str) -> Discussion:
    if not isinstance(entry, dict):
        raise HubError(f"{what}: the Hub sent a discussion that is not an object")
    num = entry.get("num")
    if not isinstance(num, int) or isinstance(num, bool):
        raise HubError(f"{what}: the Hub sent a discussion without a number")
    return Discussion(num, _text(entry, "title", what), _text(entry, "status", what), _author(entry))


def _author(entry: dict[str, Any]) -> str:
    author = entry.get("author")
    name = author.get("name") if isinstance(author, dict) else None
    return name if isinstance(name, str) else "deleted"  # as huggingface_hub names a deleted account


def _comment_text(event: dict[str, Any], what: str) -> str:
    data = event.get("data")
    latest = data.get("latest") if isinstance(data, dict) else None
    raw = latest.get("raw") if isinstance(latest, dict) else None
    if not isinstance(raw, str):
        raise HubError(f"{what}: the Hub sent a comment without its text")
    return raw


def _text(entry: dict[str, Any], key: str, what: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise HubError(f"{what}: the Hub's answer has no {key!r}")
    return value
