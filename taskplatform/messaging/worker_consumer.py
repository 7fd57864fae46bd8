"""The worker's consumer (the `worker_consumer` setting): Celery's, with two changes.

- Native delayed delivery is set up through one node of a RabbitMQ cluster, not each in turn
  (`delayed_delivery.ClusterDelayedDelivery`).
- Monitoring events (the task events Flower shows, and the worker's heartbeats) go out on a connection without
  publisher confirms. With `confirm_publish` (on for every RabbitMQ connection, so that no task message is lost)
  each flush of events waited for the broker's confirm on the worker's own thread, the one that also receives
  messages, hands tasks to the pool and acknowledges them: a third of that thread's time in the ledger benchmark
  (py-spy). A monitoring event lost with a broker node costs Flower a line; no task depends on one.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from taskplatform.messaging.delayed_delivery import CELERY_STEP


class Consumer(CeleryConsumer):  # type: ignore[misc]  # Celery is untyped
    class Blueprint(CeleryConsumer.Blueprint):  # type: ignore[misc]
        default_steps = [
            "taskplatform.messaging.delayed_delivery:ClusterDelayedDelivery" if step == CELERY_STEP else step
            for step in CeleryConsumer.Blueprint.default_steps]

    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Any:
        """The events' connection (Celery's `Events` step is the consumer's only caller), without confirms."""
        options = {**self.app.conf.broker_transport_options, "confirm_publish": False}
        return self.ensure_connected(self.app.connection_for_write(url=url, heartbeat=heartbeat,
                                                                   transport_options=options))
