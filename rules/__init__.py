"""The rule registry: an explicit list, so `hublint rules` and the docs show exactly what runs."""

from __future__ import annotations

from rules.model import Category, Finding, Fix, LoadRecipe, Need, Rule, Severity
from rules.vocab.hl101_embedding_vocab_mismatch import EmbeddingVocabMismatch
from rules.vocab.hl102_tokenizer_exceeds_embeddings import TokenizerExceedsEmbeddings
from rules.vocab.hl103_untrained_new_tokens import UntrainedNewTokens
from rules.vocab.hl104_embed_head_rows_differ import EmbedHeadRowsDiffer
from rules.vocab.hl105_resized_vocab_without_tokenizer import ResizedVocabWithoutTokenizer
from rules.vocab.hl106_trainable_token_index_out_of_range import TrainableTokenIndexOutOfRange

ALL_RULES: tuple[type[Rule], ...] = (
    EmbeddingVocabMismatch,
    TokenizerExceedsEmbeddings,
    UntrainedNewTokens,
    EmbedHeadRowsDiffer,
    ResizedVocabWithoutTokenizer,
    TrainableTokenIndexOutOfRange,
)

_BY_KEY: dict[str, type[Rule]] = {
    **{r.code.upper(): r for r in ALL_RULES},
    **{r.name.upper(): r for r in ALL_RULES},
}


def get(code_or_name: str) -> type[Rule]:
    """The rule with this code (HL101) or name (embedding-vocab-mismatch); KeyError if there is none."""
    try:
        return _BY_KEY[code_or_name.strip().upper()]
    except KeyError:
        raise KeyError(f"no rule {code_or_name!r} (see `hublint rules`)") from None


__all__ = ["ALL_RULES", "Category", "Finding", "Fix", "LoadRecipe", "Need", "Rule", "Severity", "get"]
