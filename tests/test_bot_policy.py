"""The bot speaks only where it helps, on a population of real-PEFT adapters (tests/peft_factory.py):

- a discussion only where loading or generation breaks (never for metadata alone);
- a fix pull request only where the base's Hub id is established and verified (it exists, its shapes fit), whose
  edited files load with `PeftConfig.from_pretrained` and whose diff touches only the fixed keys;
- everything else in the report only.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download

from hublint.check import Checker
from hublint.discussions import Action, BotOptions, DiscussionBot, RepoOutcome
from hublint.emulator.server import Emulator
from hublint.hub import HubClient
from hublint.lint import LintConfig
from hublint.policy import DISCUSSION, PULL_REQUEST, REPORT_ONLY, BotPolicy, Volume
from hublint.rules.model import BotAction
from tests import peft_factory as pf

CACHE_PATH = "/root/.cache/huggingface/hub/models--hl-bases--tiny-llama/snapshots/" + "0" * 40
# Metadata-only variants of adapters that load fine: (name, config base, card base, fix expected)
VERIFIABLE = {
    "hub-cache-path": (CACHE_PATH, CACHE_PATH),
    "local-path-tail": ("/data/models/hl-bases/tiny-llama", "/data/models/hl-bases/tiny-llama"),
    "card-names-it": ("./output", "hl-bases/tiny-llama"),
    "card-disagrees": ("hl-bases/tiny-llama", "hl-bases/no-such-model"),
}
UNVERIFIABLE = {
    "relative-path": ("./output", None),  # names no id at all
    "tail-not-on-hub": ("/data/models/someone/private-base", None),  # an id that does not exist
    "two-bases-fit": ("hl-bases/tiny-llama", "hl-bases/tiny-llama-tied"),  # both exist with the same layer shapes
    "wrong-shapes": ("/data/models/hl-bases/other-width", None),  # exists, but its layers are another size
}
METADATA_SOURCES = ["clean-lora", "dora", "rank-pattern", "big-rank", "rslora-r64", "trainable-tokens-no-resize"]
TOKENS = {"hf_bot": "hublint-bot"}
# Each variant on several adapters, so that (at least) half the population is metadata-only.
COPIES = math.ceil(len(pf.CASES) / (len(VERIFIABLE) + len(UNVERIFIABLE)))


def write_card(repo: Path, base: str | None) -> None:
    front = f"base_model: {base}\n" if base else ""
    (repo / "README.md").write_text(f"---\nlibrary_name: peft\n{front}---\n\n# Adapter\n\nTrained with care.\n")


def make_population(root: Path) -> dict[str, str]:
    """Every factory case, plus metadata-only variants of the adapters that load fine: repo id -> expectation."""
    pf.build_all(root)
    expected = {case.repo_id: "breaks" if case.naive_load != "ok" else "fine" for case in pf.CASES.values()}
    expected[pf.CASES["untrained-tokens"].repo_id] = "breaks"  # HL102: generation indexes past the rows
    other = root / "hl-bases" / "other-width"  # a real Hub model whose layers do not fit the adapters
    shutil.copytree(root / pf.BASE, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "hidden_size": 128}))
    _rewrite_header_widths(other / "model.safetensors")
    variants = {
        **{k: (*v, "pr") for k, v in VERIFIABLE.items()},
        **{k: (*v, "report") for k, v in UNVERIFIABLE.items()},
    }
    for index, (variant, copy) in enumerate((v, c) for v in variants for c in range(COPIES)):
        config_base, card_base, outcome = variants[variant]
        source = pf.CASES[METADATA_SOURCES[index % len(METADATA_SOURCES)]]
        repo_id = f"hl-meta/{variant}-{copy}"
        target = root / repo_id
        shutil.copytree(root / source.repo_id, target)
        path = target / "adapter_config.json"
        text = path.read_text().replace(json.dumps(pf.BASE), json.dumps(config_base))
        path.write_text(text)
        write_card(target, card_base)
        expected[repo_id] = outcome
    return expected


def _rewrite_header_widths(weights: Path) -> None:
    """Double every 64 in the safetensors header's shapes: the same tensors, for a model twice as wide."""
    raw = weights.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + length])
    for name, entry in header.items():
        if name != "__metadata__":
            entry["shape"] = [128 if n == 64 else n for n in entry["shape"]]
    encoded = json.dumps(header).encode()
    weights.write_bytes(len(encoded).to_bytes(8, "little") + encoded + raw[8 + length :])


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, dict[str, str]]]:
    root = tmp_path_factory.mktemp("hub")
    expected = make_population(root)
    with Emulator(root, tokens=TOKENS) as emulator:
        yield emulator, expected


def run_bot(emulator: Emulator, repos: list[str], *, post: bool) -> dict[str, RepoOutcome]:
    client = HubClient(emulator.url, "hf_bot" if post else False)
    options = BotOptions(post=post, max_new=1000, max_per_owner=1000)
    with client:
        bot = DiscussionBot(Checker(client, LintConfig()), options)
        return {repo: bot.handle_repo(repo) for repo in repos}


def actions(outcome: RepoOutcome) -> set[Action]:
    return {report.action for report in outcome.reports}


def test_discussions_only_where_loading_breaks_and_prs_only_where_verified(population, capsys):
    emulator, expected = population
    outcomes = run_bot(emulator, sorted(expected), post=False)
    metadata_only = [repo for repo, kind in expected.items() if kind in ("pr", "report")]
    assert len(metadata_only) * 2 >= len(expected), "half the population has metadata-only problems"

    for repo, kind in expected.items():
        got = actions(outcomes[repo])
        assert Action.ERROR not in got, outcomes[repo]
        assert (Action.OPEN in got) == (kind == "breaks"), (repo, outcomes[repo])
        assert (Action.PULL_REQUEST in got) == (kind == "pr"), (repo, outcomes[repo])
    for repo in metadata_only:
        opened = [r for r in outcomes[repo].reports if r.action is Action.OPEN]
        assert opened == [], f"{repo}: a discussion whose only problems are metadata"
    why_not = {
        "relative-path": "names no Hub id",
        "tail-not-on-hub": "no named base (someone/private-base) exists",
        "two-bases-fit": "both fit the adapter's tensors",
        "wrong-shapes": "no named base (hl-bases/other-width) exists with tensor shapes that fit",
    }
    for repo, kind in expected.items():
        if kind == "report":
            assert outcomes[repo].volume().keys() == {REPORT_ONLY}, outcomes[repo]
            reason = why_not[repo.split("/")[1].rsplit("-", 1)[0]]
            assert any(reason in report.reason for report in outcomes[repo].reports), outcomes[repo]

    volume = Volume()
    for outcome in outcomes.values():
        volume.add_repo(outcome.volume())
    with capsys.disabled():  # the measured volume, for the record
        print("\n" + "\n".join(volume.lines()))
    assert volume.by_action[DISCUSSION] == sum(kind == "breaks" for kind in expected.values())
    assert volume.by_action[PULL_REQUEST] == len(VERIFIABLE) * COPIES
    assert set(volume.by_rule[PULL_REQUEST]) <= {"HL402", "HL404"}
    assert not {"HL402", "HL404"} & set(volume.by_rule.get(DISCUSSION, {}))


def changed_lines(before: bytes, after: bytes) -> list[str]:
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_fix_prs_on_the_hub_load_and_change_only_the_fixed_keys(population, tmp_path):
    from peft import PeftConfig

    emulator, expected = population
    repos = sorted(repo for repo, kind in expected.items() if kind == "pr")
    first = run_bot(emulator, repos, post=True)
    again = run_bot(emulator, repos, post=True)
    for repo in repos:
        [pull] = [r for r in first[repo].reports if r.action is Action.PULL_REQUEST]
        assert pull.posted and pull.discussion is not None
        assert Action.PULL_REQUEST not in actions(again[repo]), "one pull request per repo, ever"
        revision = f"refs/pr/{pull.discussion}"
        root = emulator.root / repo
        for name in ("adapter_config.json", "README.md"):
            edited = Path(
                hf_hub_download(repo, name, revision=revision, endpoint=emulator.url, cache_dir=tmp_path / "hf")
            ).read_bytes()
            lines = changed_lines((root / name).read_bytes(), edited)
            key = "base_model_name_or_path" if name == "adapter_config.json" else "base_model"
            assert all(f'"{key}"' in line or line[1:].startswith(f"{key}:") for line in lines), lines
            if name == "adapter_config.json":
                local = tmp_path / repo / "edited"
                local.mkdir(parents=True, exist_ok=True)
                (local / name).write_bytes(edited)
                assert PeftConfig.from_pretrained(str(local)).base_model_name_or_path == pf.BASE


def test_the_operator_can_turn_prs_off():
    policy = BotPolicy({"HL402": BotAction.REPORT})
    assert policy.action("HL402") is BotAction.REPORT
    assert policy.action("HL404") is BotAction.PR
    assert policy.action("HL101") is BotAction.DISCUSS
    assert policy.action("HL203") is BotAction.REPORT


def test_rule_docs_say_what_the_bot_does(capsys):
    from hublint.cli import main

    for code, action in (("HL101", "**discuss**"), ("HL402", "**pr**"), ("HL203", "**report**")):
        assert main(["rule", code]) == 0
        doc = capsys.readouterr().out
        assert "## What the Hub bot does with it" in doc and action in doc


def test_a_dry_run_shows_the_pull_requests_diff_and_the_volume(population, capsys):
    from hublint.cli import main

    emulator, _ = population
    # A fresh copy: the module's other tests may have opened this repo's one pull request already.
    shutil.copytree(emulator.root / "hl-meta/local-path-tail-0", emulator.root / "hl-dry/local-path-tail")
    assert main(["discuss", "hl-dry/local-path-tail", "hl-meta/relative-path-0", "--endpoint", emulator.url]) == 0
    out = capsys.readouterr().out
    assert "== hl-dry/local-path-tail: would open a pull request changing README.md, adapter_config.json\n" in out
    diff = out.split("\n--- a/", 1)[1].split("\n== ", 1)[0]
    changed = [
        line for line in diff.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "--- "))
    ]
    assert changed == [
        "-base_model: /data/models/hl-bases/tiny-llama",
        "+base_model: hl-bases/tiny-llama",
        '-  "base_model_name_or_path": "/data/models/hl-bases/tiny-llama",',
        '+  "base_model_name_or_path": "hl-bases/tiny-llama",',
    ]
    volume = re.search(r"would post: discussions: 0; pull requests: 1 \(HL402 1\); report only: 2 \(([^)]*)\)", out)
    assert volume and "HL402 1" in volume.group(1), out  # the relative path's HL402: nothing to verify


def test_the_dashboard_shows_the_volume_the_crawl_printed(population, capsys, tmp_path):
    from hublint.cli import main

    emulator, _ = population
    # One owner (the crawl is scoped to it), so no second new post: the per-owner cap would hold it back.
    sources = {"breaks": pf.CASES["seed-resized-mts"].repo_id, "unverified": "hl-meta/relative-path-1"}
    for name, source in sources.items():
        shutil.copytree(emulator.root / source, emulator.root / "hl-volume" / name)
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    crawl = ["crawl", "--db", url, "--endpoint", emulator.url, "--token", "", "--author", "hl-volume"]
    assert main([*crawl, "--discussions", "dry-run"]) == 0
    printed = capsys.readouterr().out.split("by action and rule: ", 1)[1].splitlines()[0]
    assert main(["report", "--db", url, "--out", str(tmp_path / "site")]) == 0
    table = (tmp_path / "site" / "index.html").read_text().split('<table id="bot-volume">', 1)[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td>', table)
    shown = "; ".join(f"{kind}: {last}" + (f" ({rules})" if rules != "–" else "") for kind, last, _, rules in rows)
    assert shown == printed.split("; request budget")[0]
    assert [(kind, last, every) for kind, last, every, _ in rows] == [
        ("discussions", "1", "1"),
        ("pull requests", "0", "0"),
        ("report only", "2", "2"),
    ]
    assert rows[0][3] == "HL101 1" and "HL402 1" in rows[2][3]
    assert main(crawl) == 0  # the next crawl runs without the bot: its column says so, the totals stay
    assert main(["report", "--db", url, "--out", str(tmp_path / "site")]) == 0
    table = (tmp_path / "site" / "index.html").read_text().split('<table id="bot-volume">', 1)[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td><td>(\d+)</td>', table)
    assert rows == [("discussions", "–", "1"), ("pull requests", "–", "0"), ("report only", "–", "2")]
