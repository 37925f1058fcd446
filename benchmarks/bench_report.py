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
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from tests.builders import fill_store  # noqa: E402

BUDGETS = {"seconds": 60.0, "peak_mb": 1024.0, "overview_mb": 1.0}


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
