"""Who may see what, as the Hub decides it: tokens, private, gated and disabled repos, revisions.

Sources: huggingface_hub `utils/_http.py` `hf_raise_for_status` (the `X-Error-Code` values and the 401 for a
missing or private repo), research/hub.md §2.0-2.3.
"""

from __future__ import annotations

import re
from email.message import Message
from urllib.parse import unquote

from hublint.emulator.discussions import DiscussionStore
from hublint.emulator.http import HubError, Request
from hublint.emulator.repos import Repo, RepoStore

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
DISABLED_MESSAGE = "Access to this resource is disabled."
PR_REVISION = re.compile(r"^refs/pr/(\d+)$")
MAIN_REVISIONS = ("main", "refs/heads/main")


def repo_not_found() -> HubError:
    # The Hub answers 401 for missing and private repos alike, so their existence does not leak.
    return HubError(401, "Repository not found", "RepoNotFound")


class Access:
    def __init__(self, repos: RepoStore, discussions: DiscussionStore, tokens: dict[str, str]) -> None:
        self.repos, self.discussions, self.tokens = repos, discussions, tokens

    def user(self, headers: Message) -> str | None:
        """The token's user; None when anonymous; 401 for a token the Hub does not know."""
        authorization = headers.get("Authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return user

    def visible_repo(self, request: Request, owner: str, name: str) -> Repo:
        """The repo if its metadata is visible to the caller: private repos only to members."""
        repo = self.repos.get(f"{unquote(owner)}/{unquote(name)}")
        if repo is None or (repo.settings.private and not repo.is_member(request.user)):
            raise repo_not_found()
        return repo

    def enabled_repo(self, request: Request, owner: str, name: str) -> Repo:
        """`visible_repo`, and a disabled one answers 403 for its metadata too (hfh `DisabledRepoError` docstring:
        `dataset_info` on a disabled repo)."""
        repo = self.visible_repo(request, owner, name)
        refuse_disabled(repo)
        return repo

    def check_content_access(self, repo: Repo, user: str | None) -> None:
        """Files of gated repos need membership; disabled repos serve no content at all."""
        refuse_disabled(repo)
        if repo.settings.gated and not repo.is_member(user):
            if user is None:
                message = (
                    f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in."
                )
                raise HubError(401, message, "GatedRepo")
            message = f"Access to model {repo.repo_id} is restricted and you are not in the authorized list."
            raise HubError(403, message, "GatedRepo")

    def check_revision(self, repo: Repo, revision: str) -> None:
        """`main`, the current sha, or `refs/pr/N` of an existing pull request; older shas are gone."""
        if revision in (*MAIN_REVISIONS, repo.sha):
            return
        pull_request = PR_REVISION.match(revision)
        if pull_request is not None:
            record = self.discussions.get(repo.repo_id, int(pull_request.group(1)))
            if record is not None and record["isPullRequest"]:
                return
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def refuse_disabled(repo: Repo) -> None:
    if repo.settings.disabled:
        raise HubError(403, DISABLED_MESSAGE)
