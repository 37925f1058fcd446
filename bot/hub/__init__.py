"""The Hub edge: the only package that imports huggingface_hub.

- `transport`: the one HTTP stack (counting, retry with jitter, `RateLimit` pacing, deadlines);
- `client`: `HubClient`, one endpoint and its token, typed errors;
- `repo`: `HubRepo`, one repository at one commit, read with range requests;
- `base_facts`: base-model facts, cached in memory and on disk;
- `listing`: the PEFT listing and the clients of one crawl;
- `discussions`: a repo's community tab.
"""

from hublint.errors import HubError
from hublint.hub.base_facts import HubBaseFacts, facts_from_json, facts_to_json
from hublint.hub.client import PUBLIC_HUB, Fetched, HubClient, default_endpoint, resolve_token
from hublint.hub.discussions import Discussion, DiscussionMessage, HubDiscussions
from hublint.hub.listing import LISTING_PAGE_SIZE, CrawlClients, ListedRepo, list_adapters
from hublint.hub.repo import HubRepo
from hublint.hub.transport import ERROR_BODY_LIMIT, Deadline, RateLimitGate, Retry, Timeouts

__all__ = [
    "ERROR_BODY_LIMIT",
    "LISTING_PAGE_SIZE",
    "PUBLIC_HUB",
    "CrawlClients",
    "Deadline",
    "Discussion",
    "DiscussionMessage",
    "Fetched",
    "HubBaseFacts",
    "HubClient",
    "HubDiscussions",
    "HubError",
    "HubRepo",
    "ListedRepo",
    "RateLimitGate",
    "Retry",
    "Timeouts",
    "default_endpoint",
    "facts_from_json",
    "facts_to_json",
    "list_adapters",
    "resolve_token",
]
