"""Owners talk back: `@<bot> pr` and `@<bot> ignore HLxxx` in a discussion the bot opened.

Only the repo's owner, or a member of the organization that owns it, is obeyed; anyone else's command is ignored.
The bot answers each command once, in the thread; its answer carries a hidden marker naming the message it answers
(`<!-- hublint:answered=N -->`, N = the message's index in the thread) and, for `ignore`, the rules it now ignores
(`<!-- hublint:ignore=HL101 -->`): the thread itself is the record, read again on every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hublint.hub import Discussion

_ANSWERED = re.compile(r"<!-- hublint:answered=(\d+) -->")
_IGNORED = re.compile(r"<!-- hublint:ignore=(HL\d{3}) -->")
_CODES = re.compile(r"\bHL\d{3}\b", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    index: int  # the message's position in the thread (the opening post is 0)
    author: str
    verb: str  # "pr" | "ignore"
    codes: tuple[str, ...] = ()  # for ignore


def pending_commands(thread: Discussion, may_command: Callable[[str], bool]) -> list[Command]:
    """Commands to the thread's author (the bot) not yet answered, from people allowed to give them."""
    bot = thread.author
    pattern = re.compile(rf"(?<![\w@])@{re.escape(bot)}\s+(pr|ignore)\b([^\n]*)", re.IGNORECASE)
    answered = {int(n) for message in thread.messages if message.author == bot for n in _ANSWERED.findall(message.text)}
    found = []
    for index, message in enumerate(thread.messages):
        if message.author == bot or index in answered:
            continue
        match = pattern.search(message.text)
        if match is None or not may_command(message.author):
            continue
        verb = match.group(1).lower()
        codes = tuple(dict.fromkeys(code.upper() for code in _CODES.findall(match.group(2))))
        if verb == "ignore" and not codes:
            continue
        found.append(Command(index, message.author, verb, codes))
    return found


def ignored_rules(thread: Discussion | None) -> frozenset[str]:
    """The rules the owner told the bot to ignore in this repo, as recorded in the bot's own answers."""
    if thread is None:
        return frozenset()
    own = (message.text for message in thread.messages if message.author == thread.author)
    return frozenset(code for text in own for code in _IGNORED.findall(text))


def answer_markers(command: Command) -> str:
    ignores = "".join(f"\n<!-- hublint:ignore={code} -->" for code in command.codes if command.verb == "ignore")
    return f"<!-- hublint:answered={command.index} -->{ignores}"
