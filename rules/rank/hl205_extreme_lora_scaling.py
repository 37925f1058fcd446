"""HL205: lora_alpha / r (or lora_alpha / √r with rsLoRA) far outside common practice: the update is huge or nil."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import LORA
from hublint.rules.peft.ranks import Scale, configured_scales
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class ExtremeLoraScaling(Rule):
    code = "HL205"
    name = "extreme-lora-scaling"
    category = Category.RANK
    severity = Severity.WARNING
    needs = frozenset({Need.CONFIG})
    # Common practice is alpha = r or 2r (scale 1-2), and 16 / 64 = 0.25 at the low end; 32 and 1/64 are far out.
    options: ClassVar[Mapping[str, Any]] = {"max_scale": 32, "min_scale": 1 / 64}
    peft_types = frozenset({LORA})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        scales = configured_scales(snapshot.config)
        if not scales:
            return
        largest = max(scales, key=lambda s: s.value)
        smallest = min(scales, key=lambda s: s.value)
        if largest.value >= self.settings["max_scale"]:
            yield self._finding(
                largest,
                "the LoRA product is magnified that many times, so tiny adapter weights dominate the layers they"
                " adapt and any noise in them shows in the outputs",
            )
        if smallest.value <= self.settings["min_scale"]:
            effect = (
                "the adapter has no effect at all"
                if smallest.value == 0
                else "the adapter barely changes the base model's outputs unless its weights grew huge in training"
            )
            yield self._finding(smallest, effect)

    def _finding(self, scale: Scale, effect: str) -> Finding:
        where = f" for modules matching `{scale.pattern}`" if scale.pattern else ""
        return self.finding(
            f"PEFT scales this adapter's update{where} by {scale.formula} = {scale.value:.4g}, far outside the usual"
            f" 0.25 to 4: {effect}.",
            file=ADAPTER_CONFIG,
            details={
                "scale": round(scale.value, 6),
                "lora_alpha": scale.alpha,
                "rank": scale.rank,
                "use_rslora": scale.rslora,
                "pattern": scale.pattern,
                "max_scale": self.settings["max_scale"],
                "min_scale": self.settings["min_scale"],
            },
            fix=Fix(
                "Check lora_alpha against r in the training script (a typo such as alpha=1600 for 16, or alpha and r"
                " swapped, is common); retrain with alpha around r to 2r (with use_rslora, around √r to 2√r). Do not"
                " edit lora_alpha of a trained adapter: its weights were learned with this scale."
            ),
        )
