"""Celery settings, every value taken from `taskplatform.core.settings`.

Importing this module reads nothing: the values are built when Celery (or anyone) first asks for one, so the
settings are read, and a missing broker refused, only by a process that actually configures Celery.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from taskplatform.core.settings import Settings, get_settings
from taskplatform.gym.schedule import GYM_SCHEDULE
from taskplatform.messaging import queues
from taskplatform.messaging.schedule import PLATFORM_SCHEDULE, REDELIVERY_SCHEDULE

NO_BROKER = ("No broker configured: set BROKER_URL (or RABBITMQ_URL, RABBITMQ_HOST, REDIS_URL), "
             "or run `make up`, which starts an embedded one.")

#: Task modules, listed explicitly (no autodiscovery); the worker imports them at start.
TASK_MODULES = (
    "tasks.checkins",
    "tasks.reports",
    "tasks.maintenance",
    "tasks.churn",
    "tasks.devices",
    "tasks.device_members",
    "tasks.sessions",
    "tasks.housing",
    "tasks.textgen",
    "tasks.dead_letters",
)

def _transport_options(settings: Settings) -> dict[str, Any]:
    if settings.broker_kind == "amqp":
        # The heartbeat is the worker's (Celery's clients send none): how soon the broker notices a cut-off worker
        # host and hands its unacknowledged messages to the others.
        # Channel errors restart the consumer instead of stopping the worker: when a cluster node dies, the worker's
        # exclusive control queue (its pidbox) can stay locked by the dead connection for a moment after the worker
        # has moved to another node, and its declaration there fails with RESOURCE_LOCKED, which Celery otherwise
        # treats as unrecoverable (make test-hosts, rabbitmq-node-killed: a worker of two exited).
        return {"broker_transport_options": {"confirm_publish": True},
                "broker_heartbeat": settings.broker_heartbeat, "broker_channel_error_retry": True}
    if settings.broker_kind == "redis":
        # A message whose worker died comes back after the visibility timeout, at the next
        # sweep; throttle 1 makes the sweep period exactly the configured interval. Workers take
        # turns at the sweep under a mutex that kombu keeps for 5 minutes: a worker killed while
        # holding it would stop every sweep for that long, so it lapses after a few sweeps instead
        # (a sweep takes milliseconds; two overlapping ones at worst deliver a message twice, which
        # every task tolerates).
        return {"broker_transport_options": {
                    "visibility_timeout": settings.broker_visibility_timeout,
                    "unacked_restore_interval": settings.broker_unacked_restore_interval,
                    "unacked_restore_throttle": 1,
                    "unacked_mutex_expire": max(5, 3 * settings.broker_unacked_restore_interval)},
                "result_backend_transport_options": {"visibility_timeout": settings.broker_visibility_timeout}}
    return {}


def celery_settings(settings: Settings) -> dict[str, Any]:
    """Every Celery setting for `settings`; RuntimeError when no broker is configured."""
    if not settings.broker_url:
        raise RuntimeError(NO_BROKER)
    amqp = settings.broker_kind == "amqp"
    result_backend = settings.effective_result_backend
    return {
        "broker_url": settings.broker_url,
        "include": list(TASK_MODULES),
        "result_backend": result_backend,
        "task_ignore_result": result_backend is None,
        "result_expires": 24 * 3600,
        "result_extended": True,
        # JSON only: nothing that reads a message may unpickle it.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "timezone": settings.timezone,
        "enable_utc": True,
        # Nothing lost: a message is acknowledged only after the task returned, and goes back
        # to the queue if the worker process dies mid-task. Every task is idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        # "auto" (Celery's sentinel, kept until after worker_init): the worker profile chooses.
        "worker_concurrency": settings.worker_concurrency or "auto",
        "worker_max_tasks_per_child": 1000,
        # Celery's consumer, but native delayed delivery is set up through one node of a cluster, not each in turn
        # (a dead node held every task back for 17 s after a failover), and monitoring events are published without
        # confirms (taskplatform/messaging/worker_consumer.py).
        "worker_consumer": "taskplatform.messaging.worker_consumer:Consumer",
        "task_queues": queues.build_task_queues(settings.broker_kind),
        "task_routes": queues.task_routes(),
        "task_default_queue": "checkins",
        "task_default_exchange": queues.TASK_EXCHANGE if amqp else "checkins",
        "task_default_exchange_type": "topic" if amqp else "direct",
        "task_default_routing_key": "checkins",
        "task_create_missing_queues": False,
        # Events let Flower show workers and tasks live.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        "broker_pool_limit": 10,
        # An enqueue that finds every pooled producer in use fails after this long (the API answers 503)
        # instead of waiting forever, kombu's default.
        "broker_pool_acquire_timeout": settings.broker_pool_timeout_s,
        **_transport_options(settings),
        # Each fire is claimed in the database first, so beats on several hosts send it once (README, Processes).
        "beat_scheduler": "taskplatform.messaging.beat_once:OnceScheduler",
        # Each domain declares its entries; this is where they join the platform's.
        "beat_schedule": {**GYM_SCHEDULE, **PLATFORM_SCHEDULE,
                          **(REDELIVERY_SCHEDULE if settings.broker_kind == "redis" else {})},
    }


@cache
def _values() -> dict[str, Any]:
    return celery_settings(get_settings())


def __getattr__(name: str) -> Any:
    # PEP 562: Celery reads this module's attributes (`config_from_object("celeryconfig")`) when it configures
    # the app; the first read builds them all.
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return _values()[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    # Celery lists a config module's settings with dir(). No global of this module may bear a setting's name:
    # a module global is found before `__getattr__` is asked.
    return sorted(_values())
