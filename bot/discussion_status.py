"""What became of the bot's discussions: the crawler asks the Hub about the open ones, a few per run.

The dashboard's fix rate and "closed without a fix" need each discussion's status over time; the store records an
event whenever it changes (`Store.save_discussion`). One API request per discussion, the longest unchecked first,
at most `limit` a run, so a bot with thousands of open discussions spreads the cost over many runs.
"""

from __future__ import annotations

import dataclasses
import time

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


def refresh_open_discussions(
    store: Store, hub: HubDiscussions, *, worker: str, limit: int = REFRESH_LIMIT, now: float | None = None
) -> RefreshSummary:
    summary = RefreshSummary()
    for record in store.open_discussions(limit):
        assert record.num is not None  # open_discussions returns confirmed posts only
        try:
            status = hub.details(record.repo, record.num).status
        except HubNotFound:
            status = GONE
        except HublintError:
            summary.failed += 1  # asked again in a later run; one repo never stops the refresh
            continue
        summary.checked += 1
        summary.changed += status != record.status
        store.save_discussion(dataclasses.replace(record, status=status), worker, now or time.time())
    return summary
