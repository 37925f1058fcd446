"""The crawler against a naive huggingface_hub loop, as ratios measured in one run.

The Hub emulator serves synthetic adapters (headers only, written with `write_safetensors`), several per base on a
few small shared bases, with 50 ms of latency on every request and a listing page of 50 entries. Like the Hub, its
listing names each repo's files and nothing more (no sizes, no blob ids: huggingface_hub issue #1814). The adapters
are pushed as people push them: with `PeftModel.push_to_hub` (adapter files only) or by a Trainer (with the base's
tokenizer files, or a grown tokenizer). Measured:
- a first crawl into an empty SQLite store: requests per adapter beyond the listing, by rate-limit bucket (api,
  resolvers; the shared base facts included), the most resolver requests any single adapter cost, and throughput;
- a re-crawl of the unchanged repos: it must cost the listing pages and nothing else;
- a naive sequential loop with huggingface_hub (per repo: model_info, hf_hub_download adapter_config.json,
  parse_safetensors_file_metadata, the base's config.json), the crawler's throughput as a multiple of it.

Run: python benchmarks/bench_crawl.py [--adapters N]   (exit 1 when a budget is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

from hublint.emulator.server import Emulator, Faults  # noqa: E402
from hublint.emulator.synthetic import BASES, write_hub  # noqa: E402

LATENCY = 0.05
PAGE_SIZE = 50
BUDGETS = {"throughput": 10.0, "requests_per_adapter": 3.0, "resolvers_per_adapter": 3}
RESOLVER_KINDS = ("resolve_get", "resolve_head")


@dataclass
class CrawlRun:
    seconds: float
    linted: int
    requests: dict[str, int]
    max_adapter_requests: int
    errors: int

    def per_adapter(self, kinds: tuple[str, ...] | None, count: int) -> float:
        """Requests beyond the listing per adapter: of `kinds`, or of every kind but the listing (None)."""
        chosen = {k: n for k, n in self.requests.items() if (k in kinds if kinds else k != "list_models")}
        return sum(chosen.values()) / count


def crawl(emulator: Emulator, database: Path) -> CrawlRun:
    """One `hublint crawl` with its defaults; requests as the emulator counted them."""
    from hublint.config import FileConfig, merge
    from hublint.crawler import Crawler, CrawlOptions, crawl_clients
    from hublint.store import Store, database_url

    emulator.reset_stats()
    options = CrawlOptions()
    with Store(database_url(str(database))) as store:
        crawler = Crawler(store, crawl_clients(emulator.url, False, options.concurrency), merge(FileConfig()), options)
        started = time.perf_counter()
        summary = crawler.run()
        seconds = time.perf_counter() - started
        results = store.results()
    fresh = results[-summary.linted :] if summary.linted else []
    return CrawlRun(
        seconds=seconds,
        linted=summary.linted,
        requests=emulator.stats()["requests"],
        max_adapter_requests=max((r.requests for r in fresh), default=0),
        errors=sum(1 for r in results if r.error),
    )


def naive(url: str, adapters: list[str], cache: Path) -> float:
    """What a careful user writes with huggingface_hub alone: one repo after the other."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=url, token=False)
    started = time.perf_counter()
    listed = [model.id for model in api.list_models(filter="peft")]
    assert sorted(listed) == sorted(adapters), "the naive loop must see the same adapters"
    for repo_id in listed:
        api.model_info(repo_id)
        config = json.loads(Path(api.hf_hub_download(repo_id, "adapter_config.json", cache_dir=cache)).read_text())
        api.parse_safetensors_file_metadata(repo_id, "adapter_model.safetensors")
        api.hf_hub_download(config["base_model_name_or_path"], "config.json", cache_dir=cache)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HUBLINT_NO_CACHE", "1")  # base facts come from the crawl's store, not a warm home cache
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", type=int, default=120)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hublint-bench-crawl-") as scratch:
        root = Path(scratch) / "hub"
        adapters = write_hub(root, args.adapters)
        database = Path(scratch) / "crawl.db"
        with Emulator(root, faults=Faults(latency=LATENCY), page_size=PAGE_SIZE) as emulator:
            first = crawl(emulator, database)
            again = crawl(emulator, database)
            emulator.reset_stats()
            naive_seconds = naive(emulator.url, adapters, Path(scratch) / "hf-cache")
            naive_requests = emulator.stats()["total_requests"]
    return report(len(adapters), first, again, naive_seconds, naive_requests)


def report(count: int, first: CrawlRun, again: CrawlRun, naive_seconds: float, naive_requests: int) -> int:
    pages = -(-count // PAGE_SIZE)
    per_adapter = first.per_adapter(None, count)
    resolvers = first.per_adapter(RESOLVER_KINDS, count)
    throughput = (first.linted / first.seconds) / (count / naive_seconds)
    recrawl = sum(again.requests.values())
    print(f"{count} adapters on {len(BASES)} bases, {LATENCY * 1000:.0f} ms latency, listing pages of {PAGE_SIZE}\n")
    print(f"{'':44}{'seconds':>9}{'requests':>10}{'adapters/s':>12}")
    rows = [
        ("hublint crawl, empty store", first.seconds, sum(first.requests.values()), first.linted / first.seconds),
        ("hublint crawl, nothing changed", again.seconds, recrawl, 0.0),
        ("naive huggingface_hub loop", naive_seconds, naive_requests, count / naive_seconds),
    ]
    for label, seconds, requests, rate in rows:
        print(f"{label:44}{seconds:>9.2f}{requests:>10}{rate:>12.1f}")
    print(f"\nthroughput: {throughput:.1f}x the naive loop")
    print(f"requests per adapter beyond the listing: {per_adapter:.2f} (shared base facts included)")
    print(f"  by bucket: api {per_adapter - resolvers:.3f}, resolvers {resolvers:.3f}")
    print(f"most requests for one adapter (its own reads, all resolvers): {first.max_adapter_requests}")
    print(f"re-crawl: {recrawl} requests for {pages} listing pages ({again.requests})")
    budgets = {
        f"every adapter linted, no errors ({first.linted}/{count})": first.linted == count and first.errors == 0,
        f"throughput >= {BUDGETS['throughput']:.0f}x the naive loop": throughput >= BUDGETS["throughput"],
        f"<= {BUDGETS['requests_per_adapter']:.1f} requests per adapter beyond the listing, amortized": per_adapter
        <= BUDGETS["requests_per_adapter"],
        f"<= {BUDGETS['resolvers_per_adapter']} resolver requests for any one adapter": first.max_adapter_requests
        <= BUDGETS["resolvers_per_adapter"],
        "re-crawl = the listing pages only": again.requests == {"list_models": pages} and again.linted == 0,
    }
    print()
    for name, ok in budgets.items():
        print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(budgets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
