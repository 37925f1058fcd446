"""`hublint emulator --root DIR`: serve a repos directory as a local Hub, in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("emulator", help="serve a directory of repos as a local Hub (tests, demos, mirrors)")
    parser.add_argument("--root", type=Path, required=True, help="directory of <owner>/<name>/ repos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--samples", action="store_true", help="write the demo sample repos into --root first")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=USER", help="accept a bearer token")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with a 5xx")
    parser.add_argument("--rate-limit", nargs=2, type=float, metavar=("QUOTA", "WINDOW"), help="per bucket")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hublint.emulator.samples import build_samples
    from hublint.emulator.server import Emulator, Faults

    tokens = dict(pair.split("=", 1) for pair in args.token if "=" in pair)
    rate_limit = (int(args.rate_limit[0]), args.rate_limit[1]) if args.rate_limit else None
    faults = Faults(latency=args.latency, error_rate=args.error_rate, rate_limit=rate_limit, seed=args.seed)
    if args.samples:
        build_samples(args.root)
    emulator = Emulator(args.root, tokens=tokens, faults=faults).start(args.host, args.port)
    print(emulator.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
