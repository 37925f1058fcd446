"""The Hub's write endpoints a fix pull request uses: preupload, commit (to main or as a pull request), YAML
validation of a README, and organization members.

Shapes from huggingface_hub 1.x: `_commit_api.py` `_fetch_upload_modes` (preupload body and answer),
`_prepare_commit_payload` and `_send_commit` (the NDJSON commit body, `create_pr=1`, the `commitUrl`, `commitOid`,
`pullRequestUrl` answer), `hf_api.py` `_validate_yaml` and `list_organization_members`. A pull request's files live
beside the repo, in `<root>/.emulator/pulls/<owner>/<name>/<num>/`, and are served at revision `refs/pr/<num>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from hublint.emulator import discussions
from hublint.emulator.access import MAIN_REVISIONS, PR_REVISION, Access
from hublint.emulator.discussions import DiscussionStore
from hublint.emulator.http import HubError, Request, Response, json_response
from hublint.emulator.repos import FRONT_MATTER, LFS_THRESHOLD, SETTINGS_FILE, Repo


class CommitRoutes:
    def __init__(
        self, root: Path, store: DiscussionStore, access: Access, orgs: dict[str, list[str]], members_page: int
    ) -> None:
        self.members_page = members_page  # organization members per page (Link: rel="next" to the rest)
        self.pulls = root / ".emulator" / "pulls"
        self.store, self.access, self.orgs = store, access, orgs

    def preupload(self, request: Request) -> Response:
        """Which files go as regular git blobs and which as LFS: the Hub's rule is size (and `.gitattributes`)."""
        self._writable(request)
        files = request.json().get("files")
        if not isinstance(files, list):
            raise HubError(400, "files must be an array")
        answer = []
        for entry in files:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise HubError(400, "each file needs a path")
            size = entry.get("size")
            mode = "lfs" if isinstance(size, int) and size >= LFS_THRESHOLD else "regular"
            answer.append({"path": entry["path"], "uploadMode": mode, "shouldIgnore": False})
        return json_response({"files": answer})

    def commit(self, request: Request) -> Response:
        """An NDJSON commit: a `header` line, then `file` lines (base64); `create_pr=1` opens a pull request."""
        repo = self._writable(request)
        assert request.user is not None
        header, files = _parse_commit(request.body)
        summary = str(header.get("summary") or "").strip()
        if not summary:
            raise HubError(400, "A commit summary is required")
        if not request.flag("create_pr"):
            if not repo.is_member(request.user):
                raise HubError(403, "You don't have the rights to push to this repo; open a pull request instead")
            self._write(Path(self.access.repos.root) / repo.repo_id, files)
            oid = _commit_oid(repo.repo_id, files)
            return json_response({"commitUrl": f"{request.base_url}/{repo.repo_id}/commit/{oid}", "commitOid": oid})
        record = self.store.create(
            repo.repo_id,
            author=request.user,
            title=summary,
            description=str(header.get("description") or ""),
            pull_request=True,
        )
        self._write(self.pull_dir(repo.repo_id, record["num"]), files)
        oid = _commit_oid(f"{repo.repo_id}#{record['num']}", files)
        return json_response(
            {
                "commitUrl": f"{request.base_url}/{repo.repo_id}/commit/{oid}",
                "commitOid": oid,
                "pullRequestUrl": f"{request.base_url}/{repo.repo_id}/discussions/{record['num']}",
            }
        )

    def validate_yaml(self, request: Request) -> Response:
        """`{"content", "repoType"}`: 400 with `errors` when the README's front matter is not a YAML mapping."""
        content = request.json().get("content")
        match = FRONT_MATTER.search(content) if isinstance(content, str) else None
        try:
            data = yaml.safe_load(match.group(2)) if match else {}
        except yaml.YAMLError as error:
            return json_response({"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []}, 400)
        if data is not None and not isinstance(data, dict):
            return json_response({"errors": [{"message": "Metadata must be a mapping"}], "warnings": []}, 400)
        return json_response({"errors": [], "warnings": []})

    def members(self, request: Request) -> Response:
        _, _, org, _ = request.segments
        if org not in self.orgs:
            raise HubError(404, "Organization not found")
        start = request.offset()
        page = self.orgs[org][start : start + self.members_page]
        headers = {"Link": request.next_link(start + len(page))} if start + len(page) < len(self.orgs[org]) else {}
        return json_response([_member_json(name) for name in page], headers=headers)

    def pull_file(self, repo_id: str, revision: str, path: str) -> str | None:
        """The OS path of `path` as changed by pull request `revision` (`refs/pr/N`), or None if it did not change."""
        match = PR_REVISION.match(revision)
        if match is None:
            return None
        location = self.pull_dir(repo_id, int(match.group(1))) / path
        return str(location) if location.is_file() else None

    def pull_dir(self, repo_id: str, num: int) -> Path:
        owner, name = repo_id.split("/", 1)
        return self.pulls / owner / name / str(num)

    def _writable(self, request: Request) -> Repo:
        _, _, owner, name, *_ = request.segments
        if request.user is None:
            raise HubError(401, "You must be authenticated to do that.")
        repo = self.access.visible_repo(request, owner, name)
        self.access.check_content_access(repo, request.user)
        if unquote(request.segments[5]) not in MAIN_REVISIONS:
            raise HubError(400, "Commits and pull requests are accepted on main only by this emulator")
        return repo

    @staticmethod
    def _write(directory: Path, files: dict[str, bytes]) -> None:
        for path, content in files.items():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            os.utime(target)


def _parse_commit(body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    header: dict[str, Any] | None = None
    files: dict[str, bytes] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, TypeError, KeyError) as error:
            raise HubError(400, f"Invalid NDJSON commit line: {error}") from error
        if key == "header":
            header = value
        elif key == "file":
            files[_checked_path(value.get("path"))] = _decoded(value)
        else:  # lfsFile, deletedFile, deletedFolder, copies: not needed by a metadata fix
            raise HubError(400, f"This emulator accepts regular files only, not {key!r}")
    if header is None or not isinstance(header, dict):
        raise HubError(400, "The first NDJSON line must be the commit header")
    if not files:
        raise HubError(400, "No files to commit")
    return header, files


def _checked_path(path: object) -> str:
    """A relative path inside the repo; never the emulator's own settings file or a `.git` directory."""
    parts = str(path or "").split("/")
    if not path or any(part in ("", ".", "..", ".git", SETTINGS_FILE) or "\\" in part for part in parts):
        raise HubError(400, f"Invalid path: {path!r}")
    return "/".join(parts)


def _decoded(value: dict[str, Any]) -> bytes:
    content = value.get("content")
    if value.get("encoding") != "base64" or not isinstance(content, str):
        raise HubError(400, "File content must be base64-encoded")
    try:
        return base64.b64decode(content, validate=True)
    except binascii.Error as error:
        raise HubError(400, f"Invalid base64 content: {error}") from error


def _commit_oid(seed: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha1(seed.encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path])
    return digest.hexdigest()


def _member_json(name: str) -> dict[str, Any]:
    """A member row with the fields hfh's `User` reads from it, no more (no `name`, `_id`: the stingier row)."""
    known = discussions.user_json(name)
    return {"user": name, **{key: known[key] for key in ("fullname", "avatarUrl", "type", "isPro")}}
