"""HL106: trainable_token_indices point past the embedding, or the saved delta has the wrong row count."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Need, Rule, Severity
from hublint.rules.peft.keys import adapter_keys, model_embedding_rows, trainable_token_indices
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class TrainableTokenIndexOutOfRange(Rule):
    code = "HL106"
    name = "trainable-token-index-out-of-range"
    category = Category.VOCAB
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        indices_by_module = trainable_token_indices(snapshot.config)
        if not indices_by_module:
            return
        rows = model_embedding_rows(snapshot)
        deltas = [(w, t, k) for w, t, k in adapter_keys(snapshot) if k.kind == "token_delta"]
        for module, indices in indices_by_module.items():
            bad = [i for i in indices if not isinstance(i, int) or i < 0 or (rows is not None and i >= rows)]
            if bad:
                yield self.finding(
                    f"trainable_token_indices for {module} name {len(bad)} id(s) outside the {rows} embedding rows"
                    f" (e.g. {bad[0]}): resize the embeddings before training and save them, or drop those ids.",
                    file=ADAPTER_CONFIG,
                    details={"module": module, "out_of_range": bad[:20], "embedding_rows": rows},
                )
            for weights, tensor, key in deltas:
                if key.module.split(".")[-1] != module.split(".")[-1] or not tensor.shape:
                    continue
                if tensor.shape[0] != len(indices):
                    yield self.finding(
                        f"{tensor.name} has {tensor.shape[0]} rows but trainable_token_indices lists"
                        f" {len(indices)} ids: PEFT cannot match the delta to the tokens.",
                        file=weights.path,
                        details={"tensor": tensor.name, "delta_rows": tensor.shape[0], "indices": len(indices)},
                    )
