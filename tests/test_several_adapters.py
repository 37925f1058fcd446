"""A repo with several adapters — a root adapter plus the Trainer's `checkpoint-500/` (with its optimizer state),
made by real peft and served by the Hub emulator: each adapter is linted on its own, its findings name its folder,
its loading code passes `subfolder=` and really loads, and the leftovers are one finding for the whole repo. The
crawl stores the same findings per repo as `check` reports, also for a repo whose only adapter is in a folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from hublint.cli import main
from hublint.crawler import Crawler, CrawlOptions, crawl_clients
from hublint.emulator.faults import Faults, Hostile
from hublint.emulator.server import Emulator
from hublint.lint import LintConfig
from hublint.store import Store, lint_results, repos
from tests import peft_factory as pf
from tests.builders import program_env

pytestmark = [pytest.mark.peft, pytest.mark.filterwarnings("ignore::UserWarning")]

OWNER = "hl-trainer"  # the repos of this file only, so a crawl scoped to the owner reads just them
REPO = f"{OWNER}/trainer-output"
NESTED = f"{OWNER}/adapters-only"  # no root adapter: `adapters/seed/` (its card says `library_name: peft`)
MANY = "hl-checkpoints/every-100-steps"  # a root adapter and ten checkpoint folders
OPTIMIZER_BYTES = 5000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    cases = pf.build_all(root)
    repo = root / REPO
    shutil.copytree(root / cases["clean-lora"], repo)
    checkpoint = repo / "checkpoint-500"
    shutil.copytree(root / cases["seed-resized-mts"], checkpoint)
    (checkpoint / "optimizer.pt").write_bytes(b"\0" * OPTIMIZER_BYTES)
    (checkpoint / "trainer_state.json").write_text("{}")
    shutil.copytree(root / cases["seed-resized-mts"], root / NESTED / "adapters" / "seed")
    (root / NESTED / "README.md").write_text("---\nlibrary_name: peft\n---\n# Adapters\n")
    shutil.copytree(root / cases["clean-lora"], root / MANY)
    for step in range(100, 1100, 100):
        shutil.copytree(root / cases["seed-resized-mts"], root / MANY / f"checkpoint-{step}")
    with Emulator(root) as emulator:
        yield emulator


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    main(["check", *argv, "--format", "json", "--no-cache", "--fail-on", "never"])
    return json.loads(capsys.readouterr().out)["results"]


def test_each_adapter_is_linted_and_its_findings_name_its_folder(hub, capsys):
    root, checkpoint = check(capsys, REPO, "--endpoint", hub.url)
    assert (root["target"], root["subfolder"], checkpoint["subfolder"]) == (REPO, None, "checkpoint-500")
    assert "HL101" not in {f["rule"] for f in root["findings"]}
    [hl101] = [f for f in checkpoint["findings"] if f["rule"] == "HL101"]
    assert hl101["file"].startswith("checkpoint-500/")
    assert all(f["file"] is None or f["file"].startswith("checkpoint-500") for f in checkpoint["findings"])


def test_the_leftovers_are_one_finding_for_the_repo_with_their_bytes(hub, capsys):
    results = check(capsys, REPO, "--endpoint", hub.url, "--select", "HL405")
    leftovers = [f for result in results for f in result["findings"]]
    [finding] = leftovers
    assert finding["details"]["leftovers"] == ["checkpoint-500"]
    assert finding["details"]["pickles"] == ["checkpoint-500/optimizer.pt"]
    checkpoint_bytes = sum(f.stat().st_size for f in (Path(hub.root) / REPO / "checkpoint-500").iterdir())
    assert finding["details"]["bytes"] == checkpoint_bytes


def test_the_checkpoints_loading_code_passes_subfolder_and_loads(hub, capsys, tmp_path):
    _, checkpoint = check(capsys, REPO, "--endpoint", hub.url)
    [hl101] = [f for f in checkpoint["findings"] if f["rule"] == "HL101"]
    code = hl101["fix"]["code"]
    assert "PeftModel.from_pretrained(model, ADAPTER, subfolder='checkpoint-500')" in code
    env = program_env(hub.url, str(tmp_path / "hf"))
    program = tmp_path / "load.py"
    program.write_text(code + "\nprint('ROWS', model.get_input_embeddings().weight.shape[0])\n")
    done = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"ROWS {hl101['details']['adapter_rows']}" in done.stdout


def test_a_directory_with_several_adapters_is_linted_the_same_way(hub, capsys):
    results = check(capsys, str(Path(hub.root) / REPO))
    assert [r["subfolder"] for r in results] == [None, "checkpoint-500"]
    assert [r["source"] for r in results] == ["local", "local"]


def test_the_bot_groups_every_adapters_findings_in_one_discussion(hub, capsys):
    main(["discuss", REPO, "--endpoint", hub.url, "--token", "", "--timeout", "120"])
    out = capsys.readouterr().out
    assert out.count("[bot]") == 1  # one title: one discussion for the repo
    assert "checkpoint-500" in out and "subfolder='checkpoint-500'" in out


def test_the_crawl_stores_every_adapters_findings_as_check_reports_them(hub, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    assert main(["crawl", "--db", url, "--endpoint", hub.url, "--token", "", "--author", OWNER]) == 0
    assert main(["report", "--db", url, "--out", str(tmp_path / "site")]) == 0
    capsys.readouterr()
    stored = {r["id"]: r for r in json.loads((tmp_path / "site" / "report.json").read_text())["repos"]}
    assert sorted(stored) == [NESTED, REPO]
    for repo_id in (REPO, NESTED):
        checked = sorted(
            (f["rule"], f["file"]) for r in check(capsys, repo_id, "--endpoint", hub.url) for f in r["findings"]
        )
        assert sorted((f["rule"], f["file"]) for f in stored[repo_id]["findings"]) == checked
    nested = {f["rule"]: f for f in stored[NESTED]["findings"]}
    assert "HL305" not in nested  # the adapter is in adapters/seed/, not missing
    assert (
        nested["HL101"]["file"].startswith("adapters/seed/")
        and "subfolder='adapters/seed'" in nested["HL101"]["fix"]["code"]
    )
    assert stored[NESTED]["status"] == "error" and stored[NESTED]["base_model"]


@pytest.mark.parametrize(
    ("status", "attempts", "stored"),
    [(403, 5, "linted"), (503, 5, "failed"), (503, 1, "linted")],
    ids=["refused-for-good", "passing-failure", "passing-failure-on-the-last-attempt"],
)
def test_a_crawl_keeps_the_root_verdict_when_a_checkpoint_is_unreadable(hub, tmp_path, status, attempts, stored):
    """A checkpoint folder that refuses access for good (403) is a note beside the root adapter's findings; one that
    answers 503 (a passing failure) fails the repo, so a later run lints it whole — but on the repo's last attempt
    it is a note too, and the root's verdict is kept rather than parked."""
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    hub.set_faults(Faults(hostile=(Hostile(f"*/{REPO}/resolve/*/checkpoint-500/*", "status", status=status),)))
    try:
        with Store(url) as store:
            options = CrawlOptions(author=OWNER, max_attempts=attempts)
            Crawler(store, crawl_clients(hub.url, False, 4), LintConfig(), options).run()
    finally:
        hub.set_faults(Faults())
    with Store(url) as store, store.engine.connect() as connection:
        status_of = dict(connection.execute(sa.select(repos.c.id, repos.c.status)).all())
        results = dict(connection.execute(sa.select(lint_results.c.repo, lint_results.c.result)).all())
    if stored == "failed":
        assert status_of[REPO] == "retry" and results.get(REPO) is None  # a failure: no result, retried later
        return
    assert status_of[REPO] == "done"
    result = json.loads(results[REPO])
    (note,) = [skip for skip in result["skipped"] if skip["rule"] == "*"]
    assert note["reason"].startswith("checkpoint-500/: could not be linted: ") and f"HTTP {status}" in note["reason"]
    assert any(f["rule"] == "HL405" for f in result["findings"]) and all(
        not (f["file"] or "").startswith("checkpoint-500/adapter") for f in result["findings"]
    )


def test_a_repo_of_many_checkpoints_on_a_slow_hub_keeps_what_its_time_budget_allowed(hub, tmp_path):
    """Past half the per-repo time budget no further checkpoint is started: the repo is stored with the root
    adapter's verdict, the checkpoints linted in time, and a note for each one left out, instead of timing out."""
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    hub.set_faults(Faults(latency=0.2))  # each checkpoint costs ~3 requests: ~0.6 s, ten of them past the 4 s
    try:
        with Store(url) as store:
            options = CrawlOptions(author="hl-checkpoints", repo_seconds=8.0)
            summary = Crawler(store, crawl_clients(hub.url, False, 2), LintConfig(), options).run()
    finally:
        hub.set_faults(Faults())
    assert (summary.linted, summary.failed) == (1, 0)
    with Store(url) as store, store.engine.connect() as connection:
        result = json.loads(connection.execute(sa.select(lint_results.c.result)).scalar_one())
    left_out = [skip["reason"] for skip in result["skipped"] if skip["rule"] == "*"]
    assert left_out and all(reason.endswith("not linted, the per-repo time budget ran short") for reason in left_out)
    linted = {f["file"].split("/")[0] for f in result["findings"] if f["rule"] == "HL101"}
    assert linted and len(linted) + len(left_out) == 10  # every checkpoint either linted or named
