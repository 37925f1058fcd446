"""The crawler's view of the Hub: the PEFT listing, and the clients of one crawl.

The listing's entries carry each repo's sha and files, so an unchanged repo costs no request and a changed one is
linted without a model_info request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2

from hublint.errors import HubError
from hublint.hub.client import HubClient, host
from hublint.hub.repo import HubRepo, parse_model_info
from hublint.hub.transport import Deadline, RateLimitGate, Retry, Timeouts
from hublint.rules.snapshot import RepoFile

LISTING_EXPAND = ("sha", "lastModified", "siblings", "cardData", "gated", "disabled")
LISTING_PAGE_SIZE = 1000
LISTING_PAGE_BYTES = 200_000_000  # a page of 1000 entries with siblings and cards is a few MB; never unbounded


@dataclasses.dataclass(frozen=True)
class ListedRepo:
    """One entry of the listing: the repo at one commit, with its files and card as the listing described them."""

    repo_id: str
    sha: str
    last_modified: str | None  # the Hub's ISO 8601 timestamp, as sent
    gated: bool
    disabled: bool
    files: Mapping[str, RepoFile]
    card: dict[str, Any] | None
    entry: Mapping[str, Any]  # the raw JSON entry: a store keeps it so any worker can lint the repo later

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ListedRepo | None:
        """None for an entry without an id or sha (nothing to pin a lint to), or one ModelInfo cannot read."""
        parsed = parse_model_info(entry)
        if parsed is None:
            return None
        info, files, card = parsed
        last_modified = entry.get("lastModified")
        return cls(
            repo_id=info.id,
            sha=str(info.sha),
            last_modified=last_modified if isinstance(last_modified, str) else None,
            gated=bool(info.gated),
            disabled=bool(info.disabled),
            files=files,
            card=card,
            entry=entry,
        )

    def open(self, client: HubClient) -> HubRepo:
        """A reader pinned to the listed sha: no model_info request."""
        return HubRepo(client, self.repo_id, self.sha, dict(self.files), self.card, self.repo_id)


def list_adapters(
    client: HubClient, *, page_size: int = LISTING_PAGE_SIZE, author: str | None = None
) -> Iterator[list[ListedRepo]]:
    """The PEFT repos, most recently changed first, one page per (counted, retried, paced) request.

    Pages are fetched lazily: a caller that stops iterating (a --limit, a --since, a budget) requests no more.
    """
    url: str | None = client.endpoint + "/api/models"
    params: Any = {"filter": "peft", "sort": "lastModified", "expand": list(LISTING_EXPAND), "limit": page_size}
    if author is not None:
        params["author"] = author  # one user's or organisation's repos: `hublint crawl --author`, `report --author`
    while url is not None:
        response = client.get(url, what="the PEFT model listing", params=params, limit=LISTING_PAGE_BYTES)
        items = response.json("the model listing")
        if not isinstance(items, list):
            raise HubError(f"{host(client.endpoint)} answered the model listing with something that is not a list")
        yield [listed for item in items if isinstance(item, dict) and (listed := ListedRepo.from_entry(item))]
        url, params = response.next_page, None  # the next link carries every parameter


class CrawlClients:
    """Makes the clients of one crawl, one per worker thread, each counting its own requests (exact per-repo stats).

    They share one `RateLimitGate` (the Hub counts per token or IP, not per client), one deadline and one TLS
    set-up (parsing the CA bundle costs ~0.1 s of CPU per client). The gate closes a bucket while `reserve`
    requests remain, not at zero: with one request in flight per worker, waiting for `r=0` would send the others
    into a 429.
    """

    def __init__(
        self,
        endpoint: str | None,
        token: str | bool | None,
        *,
        reserve: int,
        retry: Retry,
        timeouts: Timeouts | None = None,
        deadline: Deadline | None = None,
        budget: Mapping[str, int] | None = None,
    ) -> None:
        self.endpoint, self.token, self.retry, self.timeouts = endpoint, token, retry, timeouts
        self.gate = RateLimitGate(reserve=reserve, max_wait=retry.max_wait, budget=budget)
        self.deadline = deadline or Deadline()
        self.tls = httpx2.create_ssl_context()

    def __call__(self) -> HubClient:
        return HubClient(
            self.endpoint,
            self.token,
            retry=self.retry,
            timeouts=self.timeouts,
            transport=httpx2.HTTPTransport(verify=self.tls),
            gate=self.gate,
            deadline=self.deadline,
        )
