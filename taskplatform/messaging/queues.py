"""Task queues and routes: every queue of the platform is declared here, once."""

from __future__ import annotations

from kombu import Exchange, Queue

from taskplatform.messaging.task_names import TaskName

#: Queue of each domain's tasks. Routes key on task names (`<domain>.<verb>`), never on
#: module paths, so a refactor cannot silently reroute a task.
TASK_QUEUES: tuple[str, ...] = ("checkins", "reports", "training", "predictions", "textgen", "sessions", "devices")

ROUTES: dict[str, str] = {
    "checkins.*": "checkins",
    "reports.*": "reports",
    "maintenance.*": "reports",  # nightly housekeeping shares the nightly reports' worker
    "churn.*": "training",
    TaskName.HOUSING_TRAIN.value: "training",
    TaskName.HOUSING_PREDICT.value: "predictions",
    "textgen.*": "textgen",
    "sessions.*": "sessions",
    "devices.*": "devices",
}

#: Topic, not direct: RabbitMQ's native delayed delivery (countdown retries) needs it.
TASK_EXCHANGE = "taskplatform"
#: Where RabbitMQ parks a task message past its delivery limit (a crash loop), instead of
#: dropping it. Queue arguments cannot change once declared, so they are fixed here.
DEAD_LETTER_EXCHANGE = "taskplatform.dlx"
DEAD_LETTER_QUEUE = "taskplatform.dead_letters"
#: Deliveries of one task message before RabbitMQ dead-letters it (a worker crash loop).
TASK_DELIVERY_LIMIT = 20


def queue_for(task_name: str) -> str:
    """The queue a task name is routed to."""
    if task_name in ROUTES:
        return ROUTES[task_name]
    domain, dot, _ = task_name.partition(".")
    try:
        if not dot:
            raise KeyError(task_name)
        return ROUTES[f"{domain}.*"]
    except KeyError:
        raise KeyError(
            f"no queue is routed for task {task_name!r}; add it to ROUTES in taskplatform/messaging/queues.py"
        ) from None


def task_routes() -> dict[str, dict[str, str]]:
    return {pattern: {"queue": queue, "routing_key": queue} for pattern, queue in ROUTES.items()}


def dead_letter_queue() -> Queue:
    """The quorum queue that collects task messages dead-lettered by RabbitMQ."""
    return Queue(DEAD_LETTER_QUEUE, Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True), routing_key="#",
                 durable=True, queue_arguments={"x-queue-type": "quorum"})


def build_task_queues(broker_kind: str) -> list[Queue]:
    """Kombu declarations of the task queues for the broker in use.

    On RabbitMQ they are durable quorum queues bound to a topic exchange (replicated,
    with a delivery limit against crash loops). Redis has neither, so plain queues.
    """
    if broker_kind == "amqp":
        exchange = Exchange(TASK_EXCHANGE, type="topic", durable=True)
        return [Queue(name, exchange, routing_key=name, durable=True,
                      queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": TASK_DELIVERY_LIMIT,
                                       "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                                       "x-dead-letter-routing-key": name})
                for name in TASK_QUEUES]
    return [Queue(name, routing_key=name) for name in TASK_QUEUES]
