"""Text-generation task (queue `textgen`): one generation at a time per worker process."""

from __future__ import annotations

from typing import Any

from taskplatform.core.errors import permanent_on
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName
from taskplatform.textgen.generation import GenerationParams, model, reply


@app.task(name=TaskName.TEXTGEN_GENERATE.value, bind=True)
def generate(self: Any, text: str, max_new_tokens: int = 48, temperature: float = 0.8) -> dict[str, Any]:
    """Generate a reply with `transformers.pipeline` over TEXTGEN_MODEL.

    The model is loaded on the first task of each worker process and kept (never at import,
    and not in `worker_process_init`, which must return within seconds). A cancel is checked between tokens
    (at most twice a second) and once the model is loaded.
    """
    with permanent_on(ValueError, FileNotFoundError):
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature)
        generator = model()
    self.stop_if_canceled()
    result = reply(generator, text, params, should_stop=self.cancel_probe())
    self.stop_if_canceled()
    return result
