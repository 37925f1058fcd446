"""What became of the bot's discussions: the crawler asks the Hub about the open ones, a few per run.

The dashboard's fix rate and "closed without a fix" need each discussion's status over time; the store records an
event whenever it changes (`Store.save_discussion`). One API request per discussion, the longest unchecked first,
at most `limit` a run, so a bot with thousands of open discussions spreads the cost over many runs.

The same read shows the owner's unanswered commands (`@<bot> pr`, `@<bot> ignore HLxxx`): their repo is queued to
be linted again, and the crawl's discussion step answers them — the crawl runs this before it lints, so the same
run does. A repo that did not change is otherwise never linted again, and its owner would wait forever.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from hublint.commands import pending_commands
from hublint.errors import HublintError, HubNotFound
from hublint.hub import HubDiscussions
from hublint.store import Store

REFRESH_LIMIT = 50  # discussions a crawl run re-reads: ~1 % of the free tier's 5-minute API quota
GONE = "deleted"  # the repo or the discussion is no longer on the Hub


@dataclasses.dataclass
class RefreshSummary:
    checked: int = 0
    changed: int = 0
    failed: int = 0
    commands: int = 0  # repos queued again for their owner's unanswered commands


def refresh_open_discussions(
    store: Store,
    hub: HubDiscussions,
    *,
    worker: str,
    may_command: Callable[[str], Callable[[str], bool]] | None = None,
    limit: int = REFRESH_LIMIT,
    now: float | None = None,
) -> RefreshSummary:
    """`may_command(repo_id)`: who may command the bot in that repo (the bot's own check); None reads no commands."""
    summary = RefreshSummary()
    for record in store.open_discussions(limit):
        assert record.num is not None  # open_discussions returns confirmed posts only
        try:
            thread = hub.details(record.repo, record.num)
            status = thread.status
            if may_command is not None and pending_commands(thread, may_command(record.repo)):
                summary.commands += store.requeue(record.repo)
        except HubNotFound:
            status = GONE
        except HublintError:
            summary.failed += 1  # asked again in a later run; one repo never stops the refresh
            continue
        summary.checked += 1
        summary.changed += status != record.status
        store.save_discussion(dataclasses.replace(record, status=status), worker, now or time.time())
    return summary
