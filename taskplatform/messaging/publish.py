"""Publishing a task without waiting forever for a broker connection."""

from __future__ import annotations

from celery.canvas import Signature


def publish(signature: Signature, *, task_id: str, queue: str) -> None:
    """`apply_async` on a connection taken from the app's pool within `broker_pool_acquire_timeout` seconds.

    Celery's own path takes a producer from its producer pool within that timeout, but a producer the pool
    creates on demand then waits for a pooled connection with no timeout at all (kombu's `ProducerPool`,
    measured with Celery 5.7 and kombu 5.7): with every connection in use, an enqueue hung instead of failing.
    Taking the connection ourselves makes an exhausted pool a `kombu.exceptions.OperationalError` in time.
    """
    with signature.app.connection_or_acquire() as connection:
        signature.apply_async(task_id=task_id, queue=queue, connection=connection)
