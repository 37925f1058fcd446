"""Discussions and pull requests, persisted as one JSON file per repo so they survive an emulator restart.

Stored records keep Hub-shaped events (research/hub.md §2.4, huggingface_hub `community.py`), so the views below
only add the fields that depend on the repo and the author.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hublint.emulator.repos import isoformat_utc

PAGE_SIZE = 50
OPEN_STATUSES = ("open", "draft")


def _now() -> str:
    return isoformat_utc(datetime.now(timezone.utc))


def _new_id() -> str:
    return uuid.uuid4().hex[:24]


def user_json(name: str) -> dict[str, Any]:
    return {
        "_id": uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:24],
        "name": name,
        "fullname": name,
        "type": "user",
        "avatarUrl": f"/avatars/{name}.svg",
        "isPro": False,
    }


def comment_event(author: str, text: str) -> dict[str, Any]:
    created = _now()
    return {
        "id": _new_id(),
        "type": "comment",
        "createdAt": created,
        "author": user_json(author),
        "data": {
            "edited": False,
            "hidden": False,
            "latest": {
                "raw": text,
                "html": f"<p>{html.escape(text)}</p>",
                "updatedAt": created,
                "author": user_json(author),
            },
            "numEdits": 0,
            "editors": [author],
            "reactions": [],
        },
    }


def status_event(author: str, status: str) -> dict[str, Any]:
    return {
        "id": _new_id(),
        "type": "status-change",
        "createdAt": _now(),
        "author": user_json(author),
        "data": {"status": status},
    }


def summary_json(record: dict[str, Any], repo_id: str) -> dict[str, Any]:
    """A discussion as listed by ``GET /api/models/{repo}/discussions``."""
    return {
        "num": record["num"],
        "title": record["title"],
        "status": record["status"],
        "createdAt": record["createdAt"],
        "isPullRequest": record["isPullRequest"],
        "author": user_json(record["author"]),
        "repo": {"name": repo_id, "type": "model"},
        "numComments": sum(1 for event in record["events"] if event["type"] == "comment"),
        "pinned": False,
        "topReactions": [],
    }


def details_json(record: dict[str, Any], repo_id: str) -> dict[str, Any]:
    """A discussion with its events, as returned by ``GET .../discussions/{num}``."""
    details = {**summary_json(record, repo_id), "events": record["events"]}
    if record["isPullRequest"]:
        details.update(changes={"base": "refs/heads/main"}, filesWithConflicts=[], diff="")
    return details


def matches(record: dict[str, Any], *, kind: str, status: str, author: str | None) -> bool:
    """The list endpoint's filters: type all|discussion|pull_request, status all|open|closed, author name."""
    if kind == "discussion" and record["isPullRequest"]:
        return False
    if kind == "pull_request" and not record["isPullRequest"]:
        return False
    is_open = record["status"] in OPEN_STATUSES
    if (status == "open" and not is_open) or (status == "closed" and is_open):
        return False
    return author is None or record["author"] == author


class DiscussionStore:
    """Read-modify-write of ``<directory>/<owner>/<name>.json`` under one lock, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def all(self, repo_id: str) -> list[dict[str, Any]]:
        """The repo's discussions, newest first (the Hub's order)."""
        return sorted(self._read(repo_id), key=lambda record: record["num"], reverse=True)

    def get(self, repo_id: str, num: int) -> dict[str, Any] | None:
        return next((record for record in self._read(repo_id) if record["num"] == num), None)

    def create(self, repo_id: str, *, author: str, title: str, description: str, pull_request: bool) -> dict[str, Any]:
        with self._lock:
            records = self._read(repo_id)
            record = {
                "num": max((r["num"] for r in records), default=0) + 1,
                "title": title,
                # API-created pull requests start as drafts on the Hub.
                "status": "draft" if pull_request else "open",
                "author": author,
                "createdAt": _now(),
                "isPullRequest": pull_request,
                "events": [comment_event(author, description)],
            }
            self._write(repo_id, [*records, record])
            return record

    def append(self, repo_id: str, num: int, events: list[dict[str, Any]], status: str | None = None) -> None:
        """Add events to discussion `num` (which must exist), optionally setting its status."""
        with self._lock:
            records = self._read(repo_id)
            record = next(r for r in records if r["num"] == num)
            record["events"].extend(events)
            if status is not None:
                record["status"] = status
            self._write(repo_id, records)

    def _path(self, repo_id: str) -> Path:
        owner, name = repo_id.split("/", 1)
        return self.directory / owner / f"{name}.json"

    def _read(self, repo_id: str) -> list[dict[str, Any]]:
        path = self._path(repo_id)
        if not path.is_file():
            return []
        return json.loads(path.read_text(encoding="utf-8"))["discussions"]

    def _write(self, repo_id: str, records: list[dict[str, Any]]) -> None:
        path = self._path(repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a sibling temp file then rename: a reader or a killed emulator never sees half a file.
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as out:
            json.dump({"discussions": records}, out, indent=1)
        os.replace(out.name, path)
