"""HL306: a PyTorch `.bin` (torch.save zip) that torch.load cannot read, judged from its directory and pickle alone."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import RepoSnapshot

_SHOWN = 3


class MalformedPytorchCheckpoint(Rule):
    code = "HL306"
    name = "malformed-pytorch-checkpoint"
    category = Category.INTEGRITY
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.WEIGHTS})
    reads_tensors = False  # it judges the file itself, readable or not

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        for weights in snapshot.weights:
            if weights.format != "pytorch" or not (weights.error or weights.problems):
                continue
            problems = [weights.error] if weights.error else list(weights.problems)
            more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
            yield self.finding(
                f"{weights.path} is damaged: {'; '.join(problems[:_SHOWN])}{more}. torch.load fails on it, so the"
                " weights cannot load.",
                file=weights.path,
                details={"size": weights.size, "problems": problems},
                fix=Fix(
                    "Save the weights again (save_pretrained writes safetensors by default) and upload them again; a"
                    " zip whose end is missing is an interrupted upload."
                ),
            )
