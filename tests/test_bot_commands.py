"""Owners talk back to the bot in its discussion: `@<bot> pr`, `@<bot> ignore HLxxx` (bot/commands.py).

End to end on the emulator with a real-PEFT adapter: the owner's org member asks for the fix and gets exactly one
pull request whose "How to load" code really loads the adapter (executed); a stranger's command does nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from hublint.check import Checker
from hublint.cli import main
from hublint.commands import Command, ignored_rules, pending_commands
from hublint.discussions import Action, BotOptions, DiscussionBot, RepoOutcome
from hublint.emulator.server import Emulator
from hublint.hub import Discussion, DiscussionMessage, HubClient, HubDiscussions
from hublint.lint import LintConfig
from tests import peft_factory as pf
from tests.builders import program_env

BOT = "hublint-bot"
REPO = "acme/seed-adapter"
TOKENS = {"hf_bot": BOT, "hf_alice": "alice", "hf_mallory": "mallory"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Emulator]:
    root = tmp_path / "hub"
    pf.build_all(root)
    shutil.copytree(root / pf.CASES["seed-resized-mts"].repo_id, root / REPO)
    with Emulator(root, tokens=TOKENS, orgs={"acme": ["alice"]}) as emulator:
        yield emulator


def run(emulator: Emulator) -> RepoOutcome:
    with HubClient(emulator.url, "hf_bot") as client:
        return DiscussionBot(Checker(client, LintConfig()), BotOptions(post=True)).handle_repo(REPO)


def say(emulator: Emulator, token: str, num: int, text: str) -> None:
    HfApi(endpoint=emulator.url, token=token).comment_discussion(REPO, num, text)


def thread(emulator: Emulator, num: int) -> Discussion:
    with HubClient(emulator.url, token=False) as client:
        return HubDiscussions(client).details(REPO, num)


def count_threads(emulator: Emulator) -> int:
    with HubClient(emulator.url, token=False) as client:
        return len(HubDiscussions(client).list(REPO))


def test_an_owners_pr_command_gets_one_pr_whose_card_code_loads(hub: Emulator, tmp_path: Path) -> None:
    first = run(hub)
    assert first.discussion.action is Action.OPEN and first.discussion.posted
    num = first.discussion.discussion
    assert num == 1

    say(hub, "hf_mallory", num, f"@{BOT} pr please")  # not the owner, not in the acme org
    stranger = run(hub)
    assert {r.action for r in stranger.reports} == {Action.NOTHING}
    assert count_threads(hub) == 1 and len(thread(hub, num).messages) == 2

    say(hub, "hf_alice", num, f"Thanks! @{BOT} pr")  # a member of acme, which owns the repo
    asked = run(hub)
    [pull] = [r for r in asked.reports if r.action is Action.PULL_REQUEST]
    [reply] = [r for r in asked.reports if r.action is Action.COMMENT]
    assert pull.posted and reply.posted and reply.discussion == num
    assert f"#{pull.discussion}" in thread(hub, num).messages[-1].text

    later = run(hub)  # each command is answered once; one pull request per repo, ever
    assert not {Action.PULL_REQUEST, Action.COMMENT} & {r.action for r in later.reports}
    assert count_threads(hub) == 2 and len(thread(hub, num).messages) == 4

    card = Path(
        hf_hub_download(
            REPO, "README.md", revision=f"refs/pr/{pull.discussion}", endpoint=hub.url, cache_dir=tmp_path / "c"
        )
    ).read_text()
    [code] = re.findall(r"## How to load\n.*?```python\n(.*?)```", card, re.S)
    program = tmp_path / "load.py"
    program.write_text(code + "\nassert model.get_input_embeddings().weight.shape[0] == 1004\nprint('loaded')\n")
    env = program_env(hub.url, str(tmp_path / "home"))
    done = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-3000:]


def test_an_owners_ignore_is_answered_once_and_kept(hub: Emulator) -> None:
    num = run(hub).discussion.discussion
    assert num is not None
    say(hub, "hf_mallory", num, f"@{BOT} ignore HL101")
    assert {r.action for r in run(hub).reports} == {Action.NOTHING}
    say(hub, "hf_alice", num, f"@{BOT} ignore HL101")
    answered = run(hub)
    assert [r.rules for r in answered.reports if r.action is Action.COMMENT] == [("HL101",)]
    assert ignored_rules(thread(hub, num)) == {"HL101"}
    assert "HL101" not in run(hub).finding_rules


def test_the_scheduled_crawl_answers_an_owners_command_on_an_unchanged_repo_and_the_report_shows_the_ignore(
    hub: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repo does not change after the bot's discussion, so only the crawl's re-read of its open discussions
    can see the owner's command: it queues the repo, and the same run answers it; a stranger's queues nothing."""
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    crawl = ["crawl", "--db", url, "--endpoint", hub.url, "--token", "hf_bot", "--author", "acme"]

    def run_crawl() -> tuple[str, str]:
        assert main([*crawl, "--discussions", "post"]) == 0
        summary, refreshed = capsys.readouterr().out.splitlines()
        return summary, refreshed

    summary, _ = run_crawl()
    assert " 1 linted," in summary and "1 open" in summary  # the discussion is opened
    (num,) = [d.num for d in HfApi(endpoint=hub.url, token="hf_bot").get_repo_discussions(REPO)]
    say(hub, "hf_mallory", num, f"@{BOT} ignore HL101")
    summary, refreshed = run_crawl()
    assert " 0 linted," in summary and refreshed.endswith(" 0 with owner commands linted again")
    say(hub, "hf_alice", num, f"@{BOT} ignore HL101")  # a member of acme
    summary, refreshed = run_crawl()
    assert " 1 linted," in summary and refreshed.endswith(" 1 with owner commands linted again")
    assert ignored_rules(thread(hub, num)) == {"HL101"}  # answered in the thread
    summary, refreshed = run_crawl()
    assert " 0 linted," in summary and refreshed.endswith(" 0 with owner commands linted again")  # answered once

    assert main(["report", "--db", url, "--out", str(tmp_path / "site")]) == 0
    (repo,) = [r for r in json.loads((tmp_path / "site" / "report.json").read_text())["repos"] if r["id"] == REPO]
    assert repo["ignored_by_owner"] == ["HL101"] and "HL101" in {f["rule"] for f in repo["findings"]}
    page = (tmp_path / "site" / "owner" / "acme.html").read_text()
    assert re.search(r'>HL101</a> <span class="ack">ignored by the owner</span>', page)


def message(author: str, text: str) -> DiscussionMessage:
    return DiscussionMessage(author, text)


def test_commands_are_parsed_from_allowed_authors_only_and_answered_once() -> None:
    discussion = Discussion(
        1,
        "[bot] x",
        "open",
        BOT,
        (
            message(BOT, "opening post"),
            message("owner", f"@{BOT} PR"),
            message("owner", f"@{BOT} ignore hl203, HL501 and more"),
            message("owner", f"email@{BOT} pr"),  # not a mention
            message("owner", f"@{BOT} ignore"),  # nothing to ignore
            message("stranger", f"@{BOT} pr"),
            message("owner", f"@{BOT}-fan pr"),  # another account
        ),
    )
    found = pending_commands(discussion, lambda user: user == "owner")
    assert found == [Command(1, "owner", "pr"), Command(2, "owner", "ignore", ("HL203", "HL501"))]
    answered = Discussion(
        1, "[bot] x", "open", BOT, (*discussion.messages, message(BOT, "<!-- hublint:answered=1 -->"))
    )
    assert [c.index for c in pending_commands(answered, lambda user: user == "owner")] == [2]
    forged = Discussion(1, "t", "open", BOT, (message("owner", "<!-- hublint:ignore=HL101 -->"),))
    assert ignored_rules(forged) == frozenset()
