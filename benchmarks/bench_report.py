"""`hublint report` over a synthetic 100,000-repo crawl store: wall time, peak memory and the overview's size.

The store is filled directly (no crawl): 100,000 repos of 5,000 owners on 40 bases, a third broken, a third with
warnings, findings carrying real loading code, 60 days of findings history and crawl runs, and bot discussions
on a share of the broken repos (some fixed since, some closed). The report runs as its own process
(`hublint report --db ... --out ...`), so its peak memory is that process's maximum resident set.

Budgets: <= 60 s of CPU (user + system: on a shared machine the wall clock measures the neighbours too; it is
printed beside it), <= 1 GB peak memory, index.html <= 1 MB.
Run: python benchmarks/bench_report.py [--repos N]   (exit 1 when a budget is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from hublint import store as tables  # noqa: E402
from hublint.store import Store  # noqa: E402

BUDGETS = {"seconds": 60.0, "peak_mb": 1024.0, "overview_mb": 1.0}
DAY = 86400.0
FIX_CODE = """import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained({base!r}, torch_dtype=torch.float16)
base.resize_token_embeddings({rows})  # the adapter's row count, from its safetensors header
model = PeftModel.from_pretrained(base, {repo!r})
"""


def fill_store(url: str, repos: int, *, owners: int = 5_000, bases: int = 40, now: float | None = None) -> list[str]:
    """A crawl store as a long-running crawl leaves it; returns the repo ids. Deterministic for a given size."""
    rng = random.Random(repos)
    now = now or time.time()
    ids = [f"owner-{n % owners:05d}/adapter-{n:06d}" for n in range(repos)]
    base_names = [f"base-org/model-{n:02d}" for n in range(bases)]
    rows: dict[str, list[dict]] = {"repos": [], "lint_results": [], "findings": [], "discussions": []}
    for n, repo_id in enumerate(ids):
        sha = f"{n:040x}"
        base = base_names[n % bases]
        found = _findings(n % 3, repo_id, base, rng)
        linted_at = now - rng.random() * 60 * DAY
        rows["repos"].append(
            {"id": repo_id, "sha": sha, "last_modified": "2026-01-01T00:00:00.000Z", "listed_at": linted_at}
            | {"status": "done", "attempts": 0, "next_attempt_at": 0.0, "last_linted_sha": sha}
        )
        result = {"target": repo_id, "revision": sha, "source": "hub", "findings": found, "base_model": base}
        result |= {"stats": {"http_requests": 3, "bytes_downloaded": 40_000}, "skipped": []}
        worst = found[0]["severity"] if found else None
        rows["lint_results"].append(
            {"id": n + 1, "repo": repo_id, "sha": sha, "linted_at": linted_at, "worker": "bench", "requests": 3}
            | {"bytes": 40_000, "seconds": 0.1, "findings": len(found), "worst": worst, "result": json.dumps(result)}
        )
        for finding in found:
            rows["findings"].append(_life(repo_id, sha, finding, linted_at))
        fixed_after_discussion = n % 40 == 1
        if fixed_after_discussion:  # an HL101 found long ago, fixed after the bot's discussion
            life = _life(repo_id, "0" * 40, {"rule": "HL101", "severity": "error", "message": "m"}, linted_at - DAY)
            rows["findings"].append(life | {"resolved_sha": sha, "resolved_at": linted_at})
        if (n % 3 == 0 and n % 20 == 0) or fixed_after_discussion:
            status = "closed" if n % 60 == 0 else "open"
            opened = linted_at - rng.uniform(1, 20) * DAY
            rows["discussions"].append(
                {"repo": repo_id, "num": 1, "fingerprint": "f", "status": status, "worker": "bench"}
                | {"created_at": opened, "updated_at": opened}
            )
    with Store(url) as store, store.engine.begin() as connection:
        for name, values in rows.items():
            for start in range(0, len(values), 5_000):
                connection.execute(sa.insert(tables.metadata.tables[name]), values[start : start + 5_000])
        events = [
            {"repo": d["repo"], "num": 1, "status": d["status"], "at": d["created_at"]} for d in rows["discussions"]
        ]
        connection.execute(sa.insert(tables.discussion_events), events)
        runs = [_run(now - (60 - day) * DAY, repos // 60) for day in range(60)]
        connection.execute(sa.insert(tables.runs), runs)
    return ids


def _findings(kind: int, repo_id: str, base: str, rng: random.Random) -> list[dict]:
    if kind == 2:
        return []
    rows = 32000 + rng.randrange(1, 2000)
    warning = {
        "rule": "HL202",
        "name": "oversized-adapter",
        "category": "rank",
        "severity": "warning",
        "message": "The adapter holds 1,342,177,280 parameters, 19.9% of the base model's 6,738,415,616.",
        "file": "adapter_model.safetensors",
        "details": {"share": 0.199},
        "fix": {"summary": "Lower r or adapt fewer modules."},
    }
    if kind == 1:
        return [warning]
    error = {
        "rule": "HL101",
        "name": "embedding-vocab-mismatch",
        "category": "vocab",
        "severity": "error",
        "message": f"The adapter's embedding matrices have {rows} rows, the base model's 32000: PeftModel."
        "from_pretrained on a freshly loaded base fails with `size mismatch`.",
        "file": "adapter_model.safetensors",
        "details": {"adapter_rows": rows, "base_rows": 32000},
        "fix": {
            "summary": f"Resize the base to {rows} rows first.",
            "code": FIX_CODE.format(base=base, rows=rows, repo=repo_id),
        },
    }
    return [error, warning]


def _life(repo_id: str, sha: str, finding: dict, at: float) -> dict:
    return {
        "repo": repo_id,
        "fingerprint": f"{finding['rule']}:{repo_id}",
        "rule": finding["rule"],
        "severity": finding["severity"],
        "message": finding["message"],
        "file": None,
        "first_seen_sha": sha,
        "first_seen_at": at,
        "last_seen_sha": sha,
        "last_seen_at": at,
        "resolved_sha": None,  # every row names every column: an executemany takes the first row's
        "resolved_at": None,
    }


def _run(started: float, linted: int) -> dict:
    buckets = {"api": linted, "resolvers": 2 * linted}
    summary = {"linted": linted, "failed": 3, "requests": 3 * linted, "rate_limited": 1, "requests_by_bucket": buckets}
    return {"worker": "bench", "started_at": started, "finished_at": started + 600, "summary": json.dumps(summary)} | {
        "linted": linted,
        "failures": 3,
        "requests": 3 * linted,
        "rate_limited": 1,
        "requests_by_bucket": json.dumps(buckets),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hublint-bench-report-") as folder:
        url = f"sqlite:///{folder}/crawl.db"
        started = time.monotonic()
        fill_store(url, args.repos)
        print(f"store: {args.repos} repos filled in {time.monotonic() - started:.1f} s")
        out = Path(folder) / "site"
        command = [sys.executable, "-m", "hublint.cli", "report", "--db", url, "--out", str(out)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = usage.ru_maxrss / 1024  # kB on Linux
        cpu = usage.ru_utime + usage.ru_stime
        if done.returncode != 0:
            print(done.stderr.strip())
            return 1
        overview_mb = (out / "index.html").stat().st_size / 1e6
        files = sum(1 for p in out.rglob("*") if p.is_file())
        site_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        print(done.stdout.strip())
        load = os.getloadavg()[0]
        print(f"report: {cpu:.1f} s CPU, {seconds:.1f} s wall (load average {load:.1f} on {os.cpu_count()} cores)")
        print(f"peak {peak_mb:.0f} MB, {files} files, {site_mb:.0f} MB of file contents")
        print(f"overview: {overview_mb * 1000:.0f} kB; report.json {(out / 'report.json').stat().st_size / 1e6:.1f} MB")
        checks = {
            f"<= {BUDGETS['seconds']:.0f} s of CPU": cpu <= BUDGETS["seconds"],
            f"<= {BUDGETS['peak_mb']:.0f} MB peak memory": peak_mb <= BUDGETS["peak_mb"],
            f"overview <= {BUDGETS['overview_mb']:.0f} MB": overview_mb <= BUDGETS["overview_mb"],
        }
    print()
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
