"""`hublint demo`: the whole check, offline, against the built-in Hub emulator and its sample repos."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hublint import __version__
from hublint.check import Checker, Target
from hublint.config import FileConfig, merge
from hublint.emulator.samples import build_samples
from hublint.emulator.server import Emulator
from hublint.hub import HubClient
from hublint.render import render

NEXT_STEPS = """\
What to try next:
  hublint check OWNER/NAME                     lint an adapter on the Hub (headers only, no weights)
  hublint check ./my-adapter                   lint an adapter directory before you push it
  hublint check OWNER/NAME --format json       the findings, stats and fix code as one JSON document
  hublint rule HL101                           why a rule fires and how to fix it for good
  hublint rules                                every rule
"""


def run_demo(keep: Path | None, emit: Callable[[str], None]) -> bool:
    """Lint the sample repos; True when every sample was linted (findings are the point, not a failure)."""
    with tempfile.TemporaryDirectory(prefix="hublint-demo-") as scratch:
        root = keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        adapters = build_samples(root)
        with Emulator(root) as emulator:
            emit(f"hublint {__version__} demo: a Hub emulator at {emulator.url} serving {len(adapters)} adapters\n\n")
            with HubClient(emulator.url, token=False) as client:
                checker = Checker(client, merge(FileConfig()))
                results = [checker.check(Target(repo_id, repo_id=repo_id)) for repo_id in adapters]
                emit(render(results, "text", version=__version__))
        emit("\n" + NEXT_STEPS)
        if keep:
            emit(f"\nThe sample repos are in {keep}: `hublint emulator --root {keep}` serves them again.\n")
    return not any(r.error for r in results)
