"""Bytes and requests of a Hub lint of the seed-size adapter, as ratios measured in one run.

The seed adapter (Llama-2-7B shapes, r=1024, 33004x4096 bf16 embed_tokens and lm_head: a 2.7 GB sparse file)
and its sharded base are served by the Hub emulator. Three ways of reading them are compared:
- hublint, cold (base facts not cached) and warm (cached on disk, a second run);
- a naive huggingface_hub script that reads the same facts with the library's own helpers;
- the minimum: the bytes of the files and headers a lint needs, and a full download of the adapter repo.
The emulator's own counters are compared with what hublint reports, so the JSON stats are checked too.

Run: python benchmarks/bench_hub_lint.py   (exit 1 when a budget is missed)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

from hublint.check import Checker, Target  # noqa: E402
from hublint.config import FileConfig, merge  # noqa: E402
from hublint.emulator.samples import build_samples  # noqa: E402
from hublint.emulator.server import Emulator  # noqa: E402
from hublint.hub import HubClient  # noqa: E402

SEED = "demo-user/llama2-chat-extended-r1024"
BASE = "meta-llama-demo/Llama-2-7b-hf"


def header_bytes(path: Path) -> int:
    with path.open("rb") as handle:
        return 8 + int.from_bytes(handle.read(8), "little")


def minimum_bytes(root: Path) -> int:
    """adapter config + adapter header + tokenizer metadata + base config, index, shard headers, tokenizer config."""
    adapter, base = root / SEED, root / BASE
    total = (adapter / "adapter_config.json").stat().st_size + header_bytes(adapter / "adapter_model.safetensors")
    total += (adapter / "tokenizer_config.json").stat().st_size
    total += sum((base / name).stat().st_size for name in ("config.json", "model.safetensors.index.json"))
    total += (base / "tokenizer_config.json").stat().st_size
    index = json.loads((base / "model.safetensors.index.json").read_text())
    return total + sum(header_bytes(base / shard) for shard in set(index["weight_map"].values()))


def repo_bytes(root: Path, repo: str) -> int:
    return sum(p.stat().st_size for p in (root / repo).rglob("*") if p.is_file() and not p.name.startswith(".hub"))


def hublint_run(emulator: Emulator, cache: Path) -> dict[str, int]:
    emulator.reset_stats()
    with HubClient(emulator.url, token=False) as client:
        result = Checker(client, merge(FileConfig()), cache_dir=cache).check(Target(SEED, repo_id=SEED))
    assert result.error is None and any(f.rule == "HL101" for f in result.findings), result
    seen = emulator.stats()
    return {
        "requests": result.stats.http_requests,
        "bytes": result.stats.bytes_downloaded,
        "server_requests": seen["total_requests"],
        "server_bytes": seen["bytes_sent"],
    }


def naive_run(emulator: Emulator, cache: Path) -> dict[str, int]:
    """What a careful user writes with huggingface_hub alone to get the same facts."""
    from huggingface_hub import HfApi

    emulator.reset_stats()
    api = HfApi(endpoint=emulator.url, token=False)
    api.model_info(SEED, files_metadata=True)
    for name in ("adapter_config.json", "tokenizer_config.json"):
        api.hf_hub_download(SEED, name, cache_dir=cache)
    api.parse_safetensors_file_metadata(SEED, "adapter_model.safetensors")
    api.get_safetensors_metadata(BASE)
    for name in ("config.json", "tokenizer_config.json"):
        api.hf_hub_download(BASE, name, cache_dir=cache)
    seen = emulator.stats()
    return {"requests": seen["total_requests"], "bytes": seen["bytes_sent"]}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hublint-bench-") as scratch:
        root = Path(scratch) / "hub"
        root.mkdir()
        build_samples(root)
        minimum, full = minimum_bytes(root), repo_bytes(root, SEED)
        with Emulator(root) as emulator:
            cold = hublint_run(emulator, Path(scratch) / "cache")
            warm = hublint_run(emulator, Path(scratch) / "cache")
            naive = naive_run(emulator, Path(scratch) / "hf-cache")
    rows = [
        ("minimum (config + headers + tokenizer metadata)", 0, minimum),
        ("hublint, base facts not cached", cold["requests"], cold["bytes"]),
        ("hublint, base facts cached", warm["requests"], warm["bytes"]),
        ("naive huggingface_hub script", naive["requests"], naive["bytes"]),
        ("full download of the adapter repo", 0, full),
    ]
    print(f"{'':52}{'requests':>9}{'bytes':>16}{'x minimum':>11}{'% of repo':>11}")
    for label, requests, size in rows:
        print(f"{label:52}{requests or '':>9}{size:>16,}{size / minimum:>11.2f}{100 * size / full:>10.4f}%")
    budgets = {
        "cold lint <= 2x minimum bytes": cold["bytes"] <= 2 * minimum,
        "cold lint < 1% of the repo's bytes": cold["bytes"] < full / 100,
        "cached lint <= 4 requests": warm["requests"] <= 4,
        "reported stats = what the server saw": (cold["requests"], cold["bytes"])
        == (cold["server_requests"], cold["server_bytes"]),
    }
    print(f"\nhublint reads {naive['bytes'] / cold['bytes']:.2f}x fewer bytes than the naive script (cold).")
    for name, ok in budgets.items():
        print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(budgets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
