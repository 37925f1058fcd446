"""HL605: PEFT does not know the adapter's peft_type, so PeftConfig.from_pretrained raises KeyError."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.compat.versions import PEFT_TYPE_SINCE, format_version
from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import peft_type
from hublint.rules.peft.methods import METHODS, RENAMED
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot

# The newest PEFT release whose PeftType hublint's method table was read from.
KNOWN_UP_TO = "0.21.2"


class UnknownPeftType(Rule):
    code = "HL605"
    name = "unknown-peft-type"
    category = Category.COMPAT
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        written = peft_type(snapshot.config)
        if written is None or written in METHODS:
            return  # a missing or non-text peft_type is HL305's
        known_by, advice = _who_knows(written)
        yield self.finding(
            f"peft_type {written!r} is not a PEFT method {known_by}: PeftConfig.from_pretrained looks it up in"
            f" PEFT_TYPE_TO_CONFIG_MAPPING and raises `KeyError: {written!r}`, so nothing loads the adapter.",
            file=ADAPTER_CONFIG,
            details={"peft_type": written, "known_up_to": KNOWN_UP_TO},
            fix=Fix(advice),
        )


def _who_knows(written: str) -> tuple[str, str]:
    """Which PEFT releases know the type (phrase for the message) and what the owner should do."""
    if written in RENAMED:
        new_name, since = RENAMED[written]
        first = format_version(PEFT_TYPE_SINCE[written])
        return (
            f"in PEFT {KNOWN_UP_TO} (PEFT {first} introduced it; {since} renamed it {new_name})",
            f"Load it with a PEFT release that still has {written}, or retrain with peft_type {new_name}; its"
            " tensors carry the old names, so changing the config alone does not convert it.",
        )
    canonical = written.strip().upper()
    if canonical in METHODS:
        return (
            f"(PEFT matches peft_type case-sensitively; {canonical!r} is the method's name)",
            f'Write "peft_type": "{canonical}" in adapter_config.json.',
        )
    return (
        f"that any PEFT release up to {KNOWN_UP_TO} knows",
        "Save the adapter with PEFT's save_pretrained, which writes a valid peft_type, or load it with the library"
        " that wrote it.",
    )
