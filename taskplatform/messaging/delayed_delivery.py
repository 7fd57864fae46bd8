"""The worker's consumer, with native delayed delivery set up on one node of a RabbitMQ cluster, not on each.

Celery's `DelayedDelivery` bootstep declares the delayed-delivery exchanges and binds the task queues to them at
every consumer (re)start, once per URL of BROKER_URL's failover list, retrying each URL three times with 1 + 3 +
5 s of sleep. The consumer's event loop starts after it: when one node of the cluster is down, a worker that just
moved to another node processes nothing for 9 s plus four connect timeouts (17 s seen in `make test-hosts` when a
node was killed, about 30 s when its host is cut off). Exchanges, queues and bindings belong to the cluster, not
to a node: declaring them through any one node that answers is enough, and the node the consumer has just
connected to is the one most likely to answer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from celery.worker.consumer.delayed_delivery import DelayedDelivery
from kombu.utils.url import maybe_sanitize_url

from taskplatform.core.settings import split_urls

CELERY_STEP = "celery.worker.consumer.delayed_delivery:DelayedDelivery"
logger = logging.getLogger(__name__)


def urls_in_trying_order(broker_url: str, connected_host: str | None) -> list[str]:
    """The failover list with the URL of the node the consumer is connected to first, the others in their order."""
    urls = split_urls(broker_url)
    current = [url for url in urls if connected_host and urlsplit(url).hostname == connected_host]
    return current + [url for url in urls if url not in current]


class ClusterDelayedDelivery(DelayedDelivery):  # type: ignore[misc]  # Celery is untyped
    """Sets up delayed delivery through the first node that answers, one attempt per node, without sleeping."""

    def start(self, c: Any) -> None:
        app = c.app
        self._validate_configuration(app)
        connected = getattr(c.connection, "hostname", None) if c.connection is not None else None
        failures = []
        for url in urls_in_trying_order(str(app.conf.broker_url), connected):
            try:
                self._setup_delayed_delivery(c, url)
                return
            except Exception as exc:  # the next node may answer; every failure is logged below if none does
                failures.append(f"{maybe_sanitize_url(url)}: {exc}")
        logger.critical("Native delayed delivery is not set up: no broker node accepted it (%s)", "; ".join(failures))
