"""HL202: the adapter holds so many parameters, relative to its base, that it is no longer a small add-on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.keys import LORA_KINDS, adapter_keys
from hublint.rules.peft.layers import is_quantized
from hublint.rules.peft.methods import is_frozen, method_of
from hublint.rules.snapshot import RepoSnapshot


class OversizedAdapter(Rule):
    code = "HL202"
    name = "oversized-adapter"
    category = Category.RANK
    severity = Severity.WARNING
    needs = frozenset({Need.WEIGHTS, Need.BASE})
    options: ClassVar[Mapping[str, Any]] = {"max_share": 0.10}

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        reason = super().skip_reason(snapshot)
        base = snapshot.require_base() if reason is None else None
        if base is not None and is_quantized(base):
            # A quantized checkpoint's headers count packed bytes, not parameters: no share can be trusted.
            return f"{base.model_id} is quantized: its headers count packed bytes, not parameters"
        if base is not None and not base.parameter_count:
            return f"the parameter count of {base.model_id} is unknown (no readable safetensors header)"
        return reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        method = method_of(snapshot.config)
        # Tensors for modules the base lacks are dropped at load (HL302 reports them): they are not the user's cost.
        # VeRA's shared projections, SHiRA's indices and the like are saved but never trained: PEFT's
        # print_trainable_parameters (the share quoted below) leaves them out.
        layers = base.layers
        kept = [(tensor, key) for _, tensor, key in adapter_keys(snapshot) if not layers.drops(key)]
        trained = [(t, key) for t, key in kept if method is None or not is_frozen(method, t.name)]
        adapter = sum(tensor.numel for tensor, _ in trained)
        dropped = sum(tensor.numel for _, tensor in snapshot.tensors()) - sum(tensor.numel for tensor, _ in kept)
        share = adapter / base.parameter_count
        if share <= self.settings["max_share"]:
            return
        share_of_total = adapter / (base.parameter_count + adapter)
        low_rank = sum(tensor.numel for tensor, key in trained if key.kind in LORA_KINDS)
        extra = {"dropped_parameters": dropped} if dropped else {}
        yield self.finding(
            f"The adapter holds {adapter:,} parameters, {share:.1%} of the base model's {base.parameter_count:,}"
            f" ({share_of_total:.1%} of base + adapter, the share PEFT's print_trainable_parameters shows): it is"
            " no longer a small low-rank add-on, and users download and load all of it.",
            file=snapshot.weights[0].path,
            details={
                "adapter_parameters": adapter,
                "base_parameters": base.parameter_count,
                "share_of_base": round(share, 4),
                "share_of_base_plus_adapter": round(share_of_total, 4),
                "max_share": self.settings["max_share"],
                "lora_parameters": low_rank,
                "other_parameters": adapter - low_rank,
                **extra,
            },
            fix=Fix(
                "Lower r or adapt fewer modules; train new tokens with trainable_token_indices (PEFT >= 0.15)"
                " instead of saving whole embedding matrices; or publish the merged model instead of an adapter."
            ),
        )
