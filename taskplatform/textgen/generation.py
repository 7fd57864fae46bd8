"""Text generation as the platform runs it: the limits of a request, and TEXTGEN_MODEL loaded once per process.

Nothing heavy at import: `ml.textgen` imports transformers (and torch) only when a model is first loaded, so the
API can check requests against these limits without loading them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml.textgen import (
    MAX_NEW_TOKENS_RANGE,
    MAX_PROMPT_CHARS,
    TEMPERATURE_RANGE,
    GenerationParams,
    chat_result,
    generate_reply,
    load_generator,
)
from taskplatform.core.settings import get_settings

__all__ = ["MAX_NEW_TOKENS_RANGE", "MAX_PROMPT_CHARS", "TEMPERATURE_RANGE", "GenerationParams", "model", "reply"]


def model() -> Any:
    """The text-generation pipeline over TEXTGEN_MODEL: loaded on the first call in each process and kept (it costs
    seconds, so never at import). FileNotFoundError when the folder is missing, ValueError when it is not a model."""
    return load_generator(get_settings().effective_textgen_model)


def reply(generator: Any, text: str, params: GenerationParams,
          should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """A reply to `text` in the seed's chat shape (`content`, `role`, `tool_calls`), never empty unless
    `should_stop` (checked between tokens: a cancel) ended it."""
    return chat_result(generate_reply(generator, text, params, should_stop))
