"""The rule registry: an explicit list, so `hublint rules` and the docs show exactly what runs."""

from __future__ import annotations

from hublint.rules.compat.hl601_requires_newer_peft import RequiresNewerPeft
from hublint.rules.compat.hl605_unknown_peft_type import UnknownPeftType
from hublint.rules.compat.hl606_task_type_unsupported_by_base import TaskTypeUnsupportedByBase
from hublint.rules.compat.hl607_not_a_peft_adapter import NotAPeftAdapter
from hublint.rules.model import BotAction, Category, Finding, Fix, LoadRecipe, Need, Rule, Severity
from hublint.rules.provenance.hl401_pickle_weights import PickleWeights
from hublint.rules.provenance.hl402_base_model_not_hub_id import BaseModelNotHubId
from hublint.rules.provenance.hl403_base_model_unavailable import BaseModelUnavailable
from hublint.rules.provenance.hl404_card_base_model_disagrees import CardBaseModelDisagrees
from hublint.rules.provenance.hl405_training_leftovers import TrainingLeftovers
from hublint.rules.provenance.hl406_custom_code_base import CustomCodeBase
from hublint.rules.provenance.hl407_unsafe_pickle_imports import UnsafePickleImports
from hublint.rules.rank.hl201_rank_exceeds_layer_dim import RankExceedsLayerDim
from hublint.rules.rank.hl202_oversized_adapter import OversizedAdapter
from hublint.rules.rank.hl203_large_rank_without_rslora import LargeRankWithoutRslora
from hublint.rules.rank.hl204_full_embeddings_inflate_checkpoint import FullEmbeddingsInflateCheckpoint
from hublint.rules.rank.hl205_extreme_lora_scaling import ExtremeLoraScaling
from hublint.rules.serving.hl501_rank_exceeds_serving_limits import RankExceedsServingLimits
from hublint.rules.serving.hl502_unservable_adapter_parts import UnservableAdapterParts
from hublint.rules.shape.hl301_adapter_base_shape_mismatch import AdapterBaseShapeMismatch
from hublint.rules.shape.hl302_target_module_not_in_base import TargetModuleNotInBase
from hublint.rules.shape.hl303_rank_config_tensor_mismatch import RankConfigTensorMismatch
from hublint.rules.shape.hl304_malformed_safetensors import MalformedSafetensors
from hublint.rules.shape.hl305_missing_adapter_files import MissingAdapterFiles
from hublint.rules.shape.hl306_malformed_pytorch_checkpoint import MalformedPytorchCheckpoint
from hublint.rules.shape.hl308_task_head_labels_mismatch import TaskHeadLabelsMismatch
from hublint.rules.vocab.hl101_embedding_vocab_mismatch import EmbeddingVocabMismatch
from hublint.rules.vocab.hl102_tokenizer_exceeds_embeddings import TokenizerExceedsEmbeddings
from hublint.rules.vocab.hl103_untrained_new_tokens import UntrainedNewTokens
from hublint.rules.vocab.hl104_embed_head_rows_differ import EmbedHeadRowsDiffer
from hublint.rules.vocab.hl105_resized_vocab_without_tokenizer import ResizedVocabWithoutTokenizer
from hublint.rules.vocab.hl106_trainable_token_index_out_of_range import TrainableTokenIndexOutOfRange

ALL_RULES: tuple[type[Rule], ...] = (
    EmbeddingVocabMismatch,
    TokenizerExceedsEmbeddings,
    UntrainedNewTokens,
    EmbedHeadRowsDiffer,
    ResizedVocabWithoutTokenizer,
    TrainableTokenIndexOutOfRange,
    RankExceedsLayerDim,
    OversizedAdapter,
    LargeRankWithoutRslora,
    FullEmbeddingsInflateCheckpoint,
    ExtremeLoraScaling,
    AdapterBaseShapeMismatch,
    TargetModuleNotInBase,
    RankConfigTensorMismatch,
    MalformedSafetensors,
    MissingAdapterFiles,
    MalformedPytorchCheckpoint,
    TaskHeadLabelsMismatch,
    PickleWeights,
    BaseModelNotHubId,
    BaseModelUnavailable,
    CardBaseModelDisagrees,
    TrainingLeftovers,
    CustomCodeBase,
    UnsafePickleImports,
    RankExceedsServingLimits,
    UnservableAdapterParts,
    RequiresNewerPeft,
    UnknownPeftType,
    TaskTypeUnsupportedByBase,
    NotAPeftAdapter,
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


__all__ = ["ALL_RULES", "BotAction", "Category", "Finding", "Fix", "LoadRecipe", "Need", "Rule", "Severity", "get"]
