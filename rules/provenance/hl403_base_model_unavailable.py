"""HL403: the base model named by the adapter does not exist on the Hub, or needs access the user may lack."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import ADAPTER_CONFIG, BaseModelFacts, RepoSnapshot


class BaseModelUnavailable(Rule):
    code = "HL403"
    name = "base-model-unavailable"
    category = Category.PROVENANCE
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    # Need.BASE makes the fetchers look the base up; skip_reason() below keeps the rule running when they fail.
    needs = frozenset({Need.CONFIG, Need.BASE})

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        """Unlike other base rules, this one judges exactly the snapshots whose base could not be read."""
        return super().skip_reason(snapshot) if snapshot.adapter_config is None else None

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.base
        if base is None or base.status not in ("missing", "gated", "private"):
            return
        details = {
            "base_model": base.model_id,
            "revision": base.revision,
            "status": base.status,
            "reason": base.message,
            "base_dependent_rules": "skipped: they need the base model's config and shapes",
        }
        if base.status == "missing":
            yield self.finding(
                f"The base model {base.model_id} does not exist on the Hub (deleted, renamed or never public):"
                " nobody can load this adapter as configured, and hublint skipped the checks that need the base.",
                file=ADAPTER_CONFIG,
                details=details,
                fix=Fix(
                    "Set base_model_name_or_path (and README base_model) to the Hub id of the model the adapter"
                    " was trained on."
                ),
            )
            return
        yield self.finding(
            f"The base model {base.model_id} is {base.status}: {_access(base)} Without that access hublint skipped"
            " the checks that need the base.",
            file=ADAPTER_CONFIG,
            details=details,
            fix=Fix(_access(base)),
            severity=Severity.INFO,
        )


def _access(base: BaseModelFacts) -> str:
    login = "then log in with `hf auth login` or set HF_TOKEN to a token of that account"
    if base.status == "gated":
        return (
            f"users must accept its license on https://huggingface.co/{base.model_id} while logged in, {login}"
            " before the adapter loads."
        )
    return f"only accounts its owner granted access can load it; ask the owner of {base.model_id} for access, {login}."
