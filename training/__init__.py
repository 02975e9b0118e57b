"""Training, evaluation and reports. Importing this package turns on the on-disk caption-embedding cache
(ropar_core.text_cache: ROPAR_TEXT_CACHE or ~/.cache/ropar/text-embeddings) for every text encoder the
process creates, so no training run or evaluation encodes a caption another one already encoded."""

from ropar_core import text_cache as _text_cache

_text_cache.enable_for_training()
