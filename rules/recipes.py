"""The loading recipe every fix starts from: the adapter on its base, as the snapshot names them."""

from __future__ import annotations

import dataclasses
from typing import Any

from hublint.rules.model import LoadRecipe
from hublint.rules.peft.tasks import auto_class, saved_num_labels
from hublint.rules.snapshot import RepoSnapshot


def load_recipe(snapshot: RepoSnapshot, base_model: str, **changes: Any) -> LoadRecipe:
    """The plain recipe for this adapter on `base_model`, with a rule's `changes` (e.g. a resize) on top.

    A base with custom code (`auto_map` in its config.json) loads only with trust_remote_code=True; the recipe then
    pins the base to a revision, so the Python code that runs cannot change under the user after they read it."""
    custom_code = snapshot.base is not None and snapshot.base.has_custom_code
    base_revision = _str_or_none(snapshot.config.get("revision"))
    if custom_code and base_revision is None and snapshot.base is not None:
        base_revision = snapshot.base.revision
    recipe = LoadRecipe(
        base_model=base_model,
        adapter=snapshot.hub_id or snapshot.target,
        adapter_revision=snapshot.requested_revision,
        base_revision=base_revision,
        auto_class=auto_class(snapshot.config),
        num_labels=saved_num_labels(snapshot),  # a classification head loads only onto as many label rows
        trust_remote_code=custom_code,
        adapter_subfolder=snapshot.subfolder,
    )
    return dataclasses.replace(recipe, **changes)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
