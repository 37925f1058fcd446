"""HL404: the model card's `base_model` names another model than adapter_config.json does."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import RepoSnapshot


class CardBaseModelDisagrees(Rule):
    code = "HL404"
    name = "card-base-model-disagrees"
    category = Category.METADATA
    severity = Severity.WARNING
    bot_action = BotAction.PR
    needs = frozenset({Need.CONFIG, Need.CARD})

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        reason = super().skip_reason(snapshot)
        if reason is None and not _card_bases(snapshot):
            return f"README.md {'names no base_model' if snapshot.card else 'has no metadata'} to compare"
        return reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        config_base = snapshot.base_model_id
        card_bases = _card_bases(snapshot)
        # Compared exactly: the Hub ids are case-sensitive in the card, and a loader uses the config's string.
        if config_base is None or not card_bases or config_base in card_bases:
            return
        shown = card_bases[0] if len(card_bases) == 1 else card_bases
        yield self.finding(
            f"README.md says base_model: {shown} but adapter_config.json says {config_base}: the Hub's model tree,"
            " tags and 'Use this model' snippets follow the card while PEFT loads the config's model, so users"
            " may load the adapter onto the wrong base.",
            file="README.md",
            details={"card_base_model": shown, "config_base_model": config_base},
            fix=Fix(
                "Make README base_model and base_model_name_or_path name the same Hub id: the model the adapter"
                " was trained on."
            ),
        )


def _card_bases(snapshot: RepoSnapshot) -> list[str]:
    value = (snapshot.card or {}).get("base_model")
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v.strip()]
