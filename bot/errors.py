"""Every failure hublint reports as one line: a `HublintError` subclass per outside system.

`permanent` says whether trying again later can help: a crawl parks a repo whose failure is permanent and retries
the others; the CLI prints any of them as one line and exits 2.
"""

from __future__ import annotations


class HublintError(Exception):
    """An operational failure: a one-line message, no traceback."""

    permanent: bool = False


class TargetError(HublintError):
    """A target that is neither a directory nor a Hub id."""

    permanent = True


class ConfigError(HublintError):
    """A mistake in a configuration file or flag, naming the file and the key."""

    permanent = True


class StoreError(HublintError):
    """The crawl database cannot be used (unreachable, locked, a newer schema, a failed statement)."""


class GitHubError(HublintError):
    """GitHub refused or did not answer."""


class HubError(HublintError):
    """The Hub refused, failed or answered something that is not the Hub's answer."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the answer, when there was one
        self.server_message = server_message  # the first line of the Hub's own explanation, if it gave one


class HubNotFound(HubError):
    """The repository, revision or file does not exist (or is private, or disabled)."""

    permanent = True


class HubRepoNotFound(HubNotFound):
    """The repository itself does not exist, or is private (401/404 RepoNotFound): a crawl marks it gone."""


class HubGated(HubError):
    """The repository is gated: its conditions must be accepted and a token passed."""

    permanent = True


class HubAuthError(HubError):
    """The token was refused, or the resource needs one."""

    permanent = True


class HubRateLimited(HubError):
    """The Hub asks to wait longer than we are willing to."""


class BudgetSpent(HubError):
    """The crawl's `--budget` of requests is spent: the request was not sent."""


class HubUnavailable(HubError):
    """No usable answer: the connection failed, the server stayed silent or kept failing (5xx)."""


class HubTimeout(HubUnavailable):
    """A request's total deadline, or the command's `--timeout`, ran out."""


class DiscussionsDisabled(HubError):
    """The owner turned the repo's community tab off: permanent for that repo, never retried."""

    permanent = True
