"""HL101–HL106 on snapshots: the seed case, padded resizes, tied embeddings, LoRA on the embedding, tokens."""

from __future__ import annotations

from hublint.lint import LintConfig, run_rules, selected_rules
from hublint.rules.model import Finding
from hublint.rules.snapshot import RepoSnapshot
from tests import builders
from tests.builders import (
    PREFIX,
    added_tokens,
    base_facts,
    lora_config,
    lora_tensors,
    snapshot,
    tokenizer,
)

EMBED = PREFIX + "model.embed_tokens.weight"
HEAD = PREFIX + "lm_head.weight"


def lint(snap: RepoSnapshot, *codes: str) -> list[Finding]:
    return builders.lint(snap, *(codes or ("HL1",)))


def codes(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def seed(rows: int = 33004, *, tok_rows: int | None = None, embed: bool = True, head: bool = True) -> RepoSnapshot:
    tensors = lora_tensors()
    if embed:
        tensors[EMBED] = (rows, 4096)
    if head:
        tensors[HEAD] = (rows, 4096)
    new = (tok_rows if tok_rows is not None else rows) - 32000
    return snapshot(
        lora_config(modules_to_save=["lm_head", "embed_tokens"]),
        tensors,
        tok=tokenizer(added_tokens(32000, new)),
    )


def test_seed_case_is_an_error_with_a_fix_that_resizes_to_the_header_rows():
    [finding] = lint(seed(), "HL101")
    assert (finding.rule, finding.severity.value, finding.category.value) == ("HL101", "error", "vocab")
    assert finding.details["adapter_rows"] == 33004
    assert finding.details["base_rows"] == 32000
    assert finding.details["tokenizer_size"] == 33004
    assert "size mismatch" in finding.message
    assert finding.file == "adapter_model.safetensors"
    recipe = finding.fix.recipe
    assert recipe.resize_embeddings_to == 33004
    assert recipe.base_model == "meta-llama/Llama-2-7b-hf"
    assert recipe.adapter == "someone/adapter"
    assert recipe.tokenizer_from_adapter is True


def test_padded_resize_resizes_to_rows_not_len_tokenizer():
    [finding] = lint(seed(33024, tok_rows=33004), "HL101")
    assert finding.fix.recipe.resize_embeddings_to == 33024
    assert finding.details["tokenizer_size"] == 33004
    assert "not len(tokenizer) = 33004" in finding.fix.summary


def test_matching_rows_are_clean():
    assert lint(seed(32000, tok_rows=32000)) == []


def test_default_clean_adapter_has_no_vocab_findings():
    assert lint(snapshot()) == []


def test_tied_base_with_only_embed_tokens_saved():
    tensors = lora_tensors()
    tensors[EMBED] = (33004, 4096)
    snap = snapshot(
        lora_config(modules_to_save=["embed_tokens"]),
        tensors,
        base=base_facts(tied=True),
        tok=tokenizer(added_tokens(32000, 1004)),
    )
    findings = lint(snap)
    assert codes(findings) == {"HL101"}
    assert findings[0].details["adapter_rows"] == 33004


def test_lora_on_embedding_reads_rows_from_lora_embedding_a_and_base_layer():
    tensors = lora_tensors()
    tensors[PREFIX + "model.embed_tokens.base_layer.weight"] = (33004, 4096)
    tensors[PREFIX + "model.embed_tokens.lora_embedding_A"] = (8, 33004)
    tensors[PREFIX + "model.embed_tokens.lora_embedding_B"] = (4096, 8)
    snap = snapshot(lora_config(target_modules=["q_proj", "v_proj", "embed_tokens"]), tensors)
    [finding] = lint(snap, "HL101")
    assert set(finding.details["tensors"]) == {
        PREFIX + "model.embed_tokens.base_layer.weight",
        PREFIX + "model.embed_tokens.lora_embedding_A",
    }


def test_lora_embedding_a_alone_without_resize_is_clean():
    tensors = lora_tensors()
    tensors[PREFIX + "model.embed_tokens.lora_embedding_A"] = (8, 32000)
    tensors[PREFIX + "model.embed_tokens.lora_embedding_B"] = (4096, 8)
    assert lint(snapshot(lora_config(target_modules=["embed_tokens"]), tensors), "HL101") == []


def test_multimodal_text_config_vocab_when_headers_lack_the_embedding():
    base = base_facts(config={"model_type": "llava", "text_config": {"vocab_size": 32064, "hidden_size": 4096}})
    base = type(base)(**{**base.__dict__, "shapes": {}})
    tensors = {PREFIX + "model.language_model.embed_tokens.weight": (32100, 4096)}
    [finding] = lint(snapshot(lora_config(modules_to_save=["embed_tokens"]), tensors, base=base), "HL101")
    assert finding.details["base_rows"] == 32064


def test_shrunk_embedding_is_also_a_mismatch():
    [finding] = lint(seed(31000, tok_rows=31000), "HL101")
    assert finding.fix.recipe.resize_embeddings_to == 31000


def test_hl104_embed_and_head_rows_differ():
    tensors = lora_tensors()
    tensors[EMBED] = (33004, 4096)
    tensors[HEAD] = (33024, 4096)
    findings = lint(snapshot(lora_config(modules_to_save=["embed_tokens", "lm_head"]), tensors), "HL104")
    assert [f.rule for f in findings] == ["HL104"]
    assert findings[0].details == {"embed_rows": [33004], "lm_head_rows": [33024]}
    assert lint(seed(), "HL104") == []


def test_hl102_tokenizer_ids_beyond_rows_when_adapter_saves_no_embeddings():
    snap = snapshot(tok=tokenizer(added_tokens(32000, 4)))
    findings = lint(snap, "HL102", "HL103")
    assert codes(findings) == {"HL102", "HL103"}
    hl102 = next(f for f in findings if f.rule == "HL102")
    assert hl102.details["embedding_rows"] == 32000
    assert hl102.details["tokenizer_size"] == 32004
    assert hl102.details["ids_beyond"] == 4


def test_hl102_not_when_the_adapter_saves_enough_rows():
    assert lint(seed(), "HL102") == []


def test_hl102_and_hl103_not_when_tokenizer_is_the_bases():
    snap = snapshot(tok=tokenizer(added_tokens(32000, 4), same_as_base=True))
    assert lint(snap, "HL102", "HL103") == []


def test_hl103_new_tokens_within_padded_rows_are_untrained():
    # Qwen-style: 151936 rows but a 151665-token tokenizer; the adapter adds 5 tokens and saves no embedding.
    base = base_facts(vocab=151936, added_tokens={151643 + i: f"<|special_{i}|>" for i in range(22)})
    new = {151643 + i: f"<|special_{i}|>" for i in range(22)} | {151665 + i: f"<tool_{i}>" for i in range(5)}
    snap = snapshot(base=base, tok=tokenizer(new))
    findings = lint(snap, "HL102", "HL103")
    assert [f.rule for f in findings] == ["HL103"]
    assert findings[0].details["new_tokens"] == 5
    assert findings[0].details["first_id"] == 151665


def test_hl103_not_when_trainable_tokens_cover_the_new_ids():
    config = lora_config(trainable_token_indices=[32000, 32001])
    tensors = lora_tensors()
    tensors[PREFIX + "model.embed_tokens.token_adapter.trainable_tokens_delta"] = (2, 4096)
    base = base_facts(vocab=32064)
    snap = snapshot(config, tensors, base=base, tok=tokenizer(added_tokens(32000, 2)))
    assert lint(snap, "HL103", "HL106") == []


def test_hl105_resized_without_tokenizer():
    tensors = lora_tensors()
    tensors[EMBED] = (33004, 4096)
    findings = lint(snapshot(lora_config(modules_to_save=["embed_tokens"]), tensors), "HL105")
    assert [(f.rule, f.severity.value) for f in findings] == [("HL105", "warning")]
    assert lint(seed(), "HL105") == []


def test_hl106_index_beyond_rows_and_delta_row_count():
    config = lora_config(trainable_token_indices=[5, 32001, 40000])
    tensors = lora_tensors()
    tensors[PREFIX + "model.embed_tokens.token_adapter.trainable_tokens_delta"] = (2, 4096)
    findings = lint(snapshot(config, tensors), "HL106")
    assert [f.rule for f in findings] == ["HL106", "HL106"]
    out_of_range = next(f for f in findings if "out_of_range" in f.details)
    assert out_of_range.details["out_of_range"] == [32001, 40000]
    delta = next(f for f in findings if "delta_rows" in f.details)
    assert (delta.details["delta_rows"], delta.details["indices"]) == (2, 3)


def test_hl106_clean_when_indices_fit():
    config = lora_config(trainable_token_indices={"embed_tokens": [5, 6, 7]})
    tensors = lora_tensors()
    tensors[PREFIX + "model.embed_tokens.token_adapter.trainable_tokens_delta"] = (3, 4096)
    assert lint(snapshot(config, tensors), "HL106") == []


def test_base_unavailable_skips_base_rules_and_says_so():
    config = LintConfig(select=frozenset({"HL101"}))
    result = run_rules(
        seed().__class__(**{**seed().__dict__, "base": base_facts(status="gated")}), selected_rules(config), config
    )
    assert result.findings == []
    assert [s.rule for s in result.skipped] == ["HL101"]
    assert "gated" in result.skipped[0].reason
