"""Celery settings, every value taken from `taskplatform.core.settings`."""

from taskplatform.core.settings import get_settings
from taskplatform.gym.schedule import GYM_SCHEDULE
from taskplatform.messaging.queues import TASK_EXCHANGE, build_task_queues, task_routes
from taskplatform.messaging.schedule import PLATFORM_SCHEDULE, REDELIVERY_SCHEDULE

_settings = get_settings()
if not _settings.broker_url:
    raise RuntimeError(
        "No broker configured: set BROKER_URL (or RABBITMQ_URL, RABBITMQ_HOST, REDIS_URL), "
        "or run `make up`, which starts an embedded one."
    )

broker_url = _settings.broker_url

#: Task modules, listed explicitly (no autodiscovery); the worker imports them at start.
include = [
    "tasks.checkins",
    "tasks.reports",
    "tasks.maintenance",
    "tasks.churn",
    "tasks.devices",
    "tasks.sessions",
    "tasks.housing",
    "tasks.textgen",
    "tasks.dead_letters",
]
result_backend = _settings.effective_result_backend
task_ignore_result = result_backend is None
result_expires = 24 * 3600
result_extended = True

# JSON only: nothing that reads a message may unpickle it.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

timezone = _settings.timezone
enable_utc = True

# Nothing lost: a message is acknowledged only after the task returned, and goes back
# to the queue if the worker process dies mid-task. Every task is idempotent.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_time_limit = _settings.task_time_limit
task_soft_time_limit = _settings.task_soft_time_limit
worker_concurrency = _settings.worker_concurrency
worker_max_tasks_per_child = 1000

task_queues = build_task_queues(_settings.broker_kind)
task_routes = task_routes()
task_default_queue = "checkins"
task_default_exchange = TASK_EXCHANGE if _settings.broker_kind == "amqp" else "checkins"
task_default_exchange_type = "topic" if _settings.broker_kind == "amqp" else "direct"
task_default_routing_key = "checkins"
task_create_missing_queues = False

# Events let Flower show workers and tasks live.
worker_send_task_events = True
task_send_sent_event = True

broker_connection_retry_on_startup = True
broker_pool_limit = 10
# An enqueue that finds every pooled producer in use fails after this long (the API answers 503)
# instead of waiting forever, kombu's default.
broker_pool_acquire_timeout = _settings.broker_pool_timeout_s
if _settings.broker_kind == "amqp":
    broker_transport_options = {"confirm_publish": True}
elif _settings.broker_kind == "redis":
    # A message whose worker died comes back after the visibility timeout, at the next
    # sweep; throttle 1 makes the sweep period exactly the configured interval. Workers take
    # turns at the sweep under a mutex that kombu keeps for 5 minutes: a worker killed while
    # holding it would stop every sweep for that long, so it lapses after a few sweeps instead
    # (a sweep takes milliseconds; two overlapping ones at worst deliver a message twice, which
    # every task tolerates).
    broker_transport_options = {"visibility_timeout": _settings.broker_visibility_timeout,
                                "unacked_restore_interval": _settings.broker_unacked_restore_interval,
                                "unacked_restore_throttle": 1,
                                "unacked_mutex_expire": max(5, 3 * _settings.broker_unacked_restore_interval)}
    result_backend_transport_options = {"visibility_timeout": _settings.broker_visibility_timeout}

# Each domain declares its entries; this is where they join the platform's.
BEAT_SCHEDULE = {**GYM_SCHEDULE, **PLATFORM_SCHEDULE}
beat_schedule = {**BEAT_SCHEDULE, **(REDELIVERY_SCHEDULE if _settings.broker_kind == "redis" else {})}
