"""HL406: the base model ships its own Python code, which loading runs only with trust_remote_code=True."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.recipes import load_recipe
from hublint.rules.snapshot import RepoSnapshot


class CustomCodeBase(Rule):
    code = "HL406"
    name = "custom-code-base"
    category = Category.PROVENANCE
    severity = Severity.INFO
    needs = frozenset({Need.CONFIG, Need.BASE})
    fixable = True

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.base
        if base is None or not base.has_custom_code or snapshot.base_model_id is None:
            return
        auto_map = base.config["auto_map"]
        recipe = load_recipe(snapshot, snapshot.base_model_id)
        pin = f" pinned to revision {recipe.base_revision}" if recipe.base_revision else ""
        yield self.finding(
            f"The base model {snapshot.base_model_id} ships its own Python code (config.json `auto_map`:"
            f" {', '.join(sorted(map(str, auto_map)))}): loading this adapter runs that code, and transformers"
            " refuses without trust_remote_code=True. The loading code below passes it to the model and the"
            f" tokenizer{pin}, so the code that runs is the code you reviewed.",
            file="adapter_config.json",
            details={"auto_map": {str(k): str(v) for k, v in auto_map.items()}, "base_revision": recipe.base_revision},
            fix=Fix(
                "Load with trust_remote_code=True and a pinned revision= of the base, after reading its Python files;"
                " say so in the model card's loading example.",
                recipe,
            ),
        )
