"""One poisoned repo cannot stop a crawl: the emulator serves hostile repos next to healthy ones over real HTTP, and
the crawl lints every healthy one in a single run, records each poisoned one with its reason and parks it."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import hublint.rules.rank.hl203_large_rank_without_rslora as hl203
from hublint.emulator.samples import lora_tensors, write_adapter
from hublint.emulator.server import Emulator, Faults
from hublint.emulator.synthetic import write_hub
from hublint.store import Store
from tests.test_crawler import PAGE_SIZE, crawl, linted

HEALTHY = 12
BASE = "bench-bases/tiny-a"  # hidden 64, two layers
REDOS = "poison/redos"  # PEFT's `re` would backtrack for minutes: (a+)+ against aaaa…a!
SURROGATE = "poison/surrogate"  # a lone surrogate in a tensor name and in the card
RAISES = "poison/raises"  # a rule bug this repo triggers
STUCK = "poison/stuck"  # a rule that never returns on this repo
pytestmark = pytest.mark.usefixtures("no_home_cache")


@pytest.fixture
def no_home_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBLINT_NO_CACHE", "1")


def add_tensor(path: Path, name: str) -> None:
    """Add a [8, 64] entry named `name` (written as raw JSON text, so escapes stay as the attacker wrote them)."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    entry = '"' + name + '": {"dtype": "F32", "shape": [8, 64], "data_offsets": [0, 2048]}, '
    header = ("{" + entry + raw[9 : 8 + length].decode()).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + raw[8 + length :])


def write_poisoned(root: Path) -> None:
    tensors = lora_tensors(layers=2, hidden=64, rank=8, targets=["q_proj"], saved={}, dtype="F32")
    for repo_id in (REDOS, SURROGATE, RAISES, STUCK):
        config = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}
        if repo_id == REDOS:
            config.update(r=64, rank_pattern={"(a+)+": 4, "q_proj": 64})
        write_adapter(root / repo_id, base=BASE, config=config, tensors=tensors, summary=f"{repo_id} is poisoned")
    add_tensor(root / REDOS / "adapter_model.safetensors", "base_model.model." + "a" * 40 + "!.lora_A.weight")
    add_tensor(root / SURROGATE / "adapter_model.safetensors", "base_model.model.x\\ud800.lora_A.weight")
    readme = root / SURROGATE / "README.md"
    readme.write_text(readme.read_text().replace(f"base_model: {BASE}", 'base_model: "x\\ud800\\0"'))


def test_poisoned_repos_are_recorded_and_parked_and_every_other_repo_completes_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant: in one run every healthy repo is linted; a repo that hangs or raises is that repo's failure with
    its reason, parked after its attempts and not retried; hostile strings are stored and read back unchanged."""
    root = tmp_path / "hub"
    healthy = write_hub(root, HEALTHY)
    write_poisoned(root)
    release = threading.Event()  # the stuck rule's thread ends with the test
    original = hl203.LargeRankWithoutRslora.check

    def poisoned(self, snapshot):
        if snapshot.target.startswith(RAISES):
            raise ZeroDivisionError("boom")
        if snapshot.target.startswith(STUCK):
            release.wait(60)
        return original(self, snapshot)

    monkeypatch.setattr(hl203.LargeRankWithoutRslora, "check", poisoned)
    db = f"sqlite:///{tmp_path / 'crawl.db'}"
    try:
        with Emulator(root, page_size=PAGE_SIZE) as emulator:
            started = time.monotonic()
            summary = crawl(emulator.url, db, concurrency=4, repo_seconds=3.0, max_attempts=1)
            seconds = time.monotonic() - started
            again = crawl(emulator.url, db, concurrency=4, repo_seconds=3.0, max_attempts=1)
    finally:
        release.set()
    assert seconds < 30
    assert (summary.seen, summary.linted, summary.failed, summary.parked) == (HEALTHY + 4, HEALTHY + 2, 2, 2)
    assert summary.line().endswith("; 2 parked after failing every attempt")
    assert (again.linted, again.failed, again.skipped) == (0, 0, HEALTHY + 4)  # parked: not retried
    assert linted(db) == Counter(dict.fromkeys([*healthy, REDOS, SURROGATE], 1))
    with Store(db) as store:
        assert store.repo(RAISES).status == store.repo(STUCK).status == "parked"
        assert "internal error: ZeroDivisionError: boom" in store.repo(RAISES).last_error
        assert "per-repo time budget" in store.repo(STUCK).last_error
        [surrogate] = store.results(SURROGATE)
        [redos] = store.results(REDOS)
    found = {f["rule"]: f for f in json.loads(surrogate.result)["findings"]}
    assert "a lone surrogate" in found["HL304"]["message"]  # safetensors refuses the file, as hublint says
    assert "x\ud800\x00" in found["HL404"]["message"]  # the card's value, stored and read back as it was
    assert {f["rule"] for f in json.loads(redos.result)["findings"]} >= {"HL203", "HL501"}


def test_a_resumed_crawl_counts_each_repo_once(tmp_path: Path) -> None:
    """Invariant: seen = linted + skipped + failed after a resume, although the workers lint the repos left over
    from the first run before the listing reaches their page (the listing is slow here)."""
    root = tmp_path / "hub"
    ids = write_hub(root, 24)
    db = f"sqlite:///{tmp_path / 'crawl.db'}"
    with Emulator(root, page_size=PAGE_SIZE) as emulator:
        partial = crawl(emulator.url, db, budget={"total": 60})
        emulator.set_faults(Faults(latency=0.05))
        rest = crawl(emulator.url, db)
    assert 0 < partial.linted < len(ids)
    assert rest.linted == len(ids) - partial.linted
    assert rest.seen == rest.linted + rest.skipped + rest.failed == len(ids)
