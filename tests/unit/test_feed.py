"""The transition feed without servers: the cursor's gaps, the fan-out, a slow subscriber, and the streams' handover
(SQLite, asyncio; the poller's interval is shortened, nothing sleeps in the tests themselves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.sse import PING, follow
from taskplatform.ledger.feed import IDLE, Interest, Subscription, TransitionFeed
from taskplatform.ledger.feed_cursor import FeedCursor
from taskplatform.ledger.records import TaskState, create_task_record, record_transition
from taskplatform.ledger.transitions import Transition, task_history

T = TypeVar("T")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def t(id_: int, task: str = "a", state: str = "PROGRESS") -> Transition:
    return Transition(id=id_, task_id=task, state=state, at=AT, name="n", queue="q", progress=None, message=None)


def ids(transitions: list[Transition]) -> list[int]:
    return [x.id for x in transitions]


def test_cursor_delivers_a_late_commit_once_and_forgets_it_after_the_grace() -> None:
    cursor = FeedCursor.starting([(1, "a"), (2, "a")], now=0, grace_s=5, reread=2)
    assert ids(cursor.accept([t(3), t(5), t(6), t(7)], now=1)) == [3, 5, 6, 7]  # 4 is still uncommitted
    assert cursor.gaps == {4: 6}
    assert cursor.pending(now=2) == [4]  # below the re-read window (ids > 5): asked for by id
    assert ids(cursor.accept([t(4), t(6), t(7)], now=2)) == [4]  # re-read rows are not delivered twice
    assert cursor.gaps == {}
    cursor.accept([t(9)], now=3)
    assert cursor.pending(now=3) == [] and 8 in cursor.gaps  # 8 is inside the re-read window
    assert cursor.pending(now=9) == [] and cursor.gaps == {}  # rolled back: not waited for forever


def test_cursor_starts_at_the_newest_id_with_holes_as_gaps() -> None:
    cursor = FeedCursor.starting([(3, "a"), (5, "b")], now=0, grace_s=5)
    assert cursor.high == 5 and cursor.gaps == {4: 5}
    assert ids(cursor.accept([t(3), t(4), t(5, "b"), t(6)], now=1)) == [4, 6]


def test_cursor_delivers_a_reused_id_of_another_task() -> None:
    """SQLite hands the id of a deleted newest row to the next row."""
    cursor = FeedCursor.starting([(7, "a")], now=0, grace_s=5)
    assert ids(cursor.accept([t(7, "b")], now=1)) == [7]
    assert ids(cursor.accept([t(7, "b")], now=1)) == []


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 20))


def write(engine: Engine, task_id: str, state: TaskState, **fields: Any) -> None:
    with Session(engine) as session, session.begin():
        if state == TaskState.QUEUED:
            create_task_record(session=session, task_id=task_id, name="churn.retrain", queue="training")
        else:
            record_transition(session=session, task_id=task_id, name="churn.retrain", queue="training",
                              state=state, **fields)


def feed_on(engine: Engine, **options: Any) -> TransitionFeed:
    return TransitionFeed(sessionmaker(bind=engine, expire_on_commit=False), interval_s=0.01, **options)


async def take(subscription: Subscription, count: int) -> list[Transition]:
    got: list[Transition] = []
    while len(got) < count:
        item = await subscription.next(5)
        assert isinstance(item, Transition), item
        got.append(item)
    return got


def test_one_poller_fans_out_to_matching_subscriptions_and_stops_with_the_last(engine: Engine) -> None:
    async def scenario() -> None:
        feed = feed_on(engine)
        one = await feed.subscribe(Interest(task_id="t1"))
        other = await feed.subscribe(Interest(task_id="t2"))
        started = await feed.subscribe(Interest(state="STARTED"))
        assert feed.running and feed.subscribers == 3
        await asyncio.to_thread(write, engine, "t1", TaskState.QUEUED)
        await asyncio.to_thread(write, engine, "t2", TaskState.QUEUED)
        await asyncio.to_thread(write, engine, "t1", TaskState.STARTED)
        assert [x.state for x in await take(one, 2)] == ["QUEUED", "STARTED"]
        assert [(x.task_id, x.state) for x in await take(started, 1)] == [("t1", "STARTED")]
        assert [x.task_id for x in await take(other, 1)] == ["t2"]
        assert await other.next(0.05) == IDLE  # nothing of t1 reached t2's stream
        for subscription in (one, other, started):
            feed.unsubscribe(subscription)
        assert not feed.running and feed.subscribers == 0

    run(scenario)


def test_a_slow_subscriber_is_told_to_reconnect_and_the_others_go_on(engine: Engine) -> None:
    async def scenario() -> None:
        feed = feed_on(engine, queue_limit=2)
        slow = await feed.subscribe(Interest())
        fast = await feed.subscribe(Interest())
        for task in ("t1", "t2", "t3", "t4"):
            await asyncio.to_thread(write, engine, task, TaskState.QUEUED)
            await take(fast, 1)  # the fast one keeps up
        assert [x.task_id for x in await take(slow, 2)] == ["t1", "t2"]
        assert await slow.next(1) is None  # the end: it resumes from t2's id with Last-Event-ID
        assert feed.subscribers == 1 and feed.running
        await feed.close()
        assert await fast.next(1) is None and not feed.running

    run(scenario)


async def collect(stream: AsyncGenerator[str, None], until: Callable[[list[str]], bool]) -> list[str]:
    lines: list[str] = []
    async for chunk in stream:
        lines.append(chunk)
        if until(lines):
            break
    return lines


def test_a_task_stream_replays_then_follows_without_gap_or_duplicate_and_ends_at_the_final_state(
        engine: Engine) -> None:
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    write(engine, "t1", TaskState.QUEUED)
    write(engine, "t1", TaskState.STARTED)

    async def scenario() -> list[str]:
        feed = feed_on(engine)

        def history() -> tuple[list[Transition], bool]:
            # A transition committed between subscribing and reading the history: in both, sent once.
            write(engine, "t1", TaskState.PROGRESS, progress=40, detail={"percent": 40, "message": "training"})
            with sessions() as session:
                return task_history(session=session, task_id="t1", after=1), True

        stream = follow(feed, Interest(task_id="t1"), history=history, last_id=1, stop_at_final=True,
                        heartbeat_s=0.05)
        chunks: list[str] = []
        async for chunk in stream:
            chunks.append(chunk)
            if chunk.startswith("id: 3"):  # the replay is out: the task finishes while the stream follows
                await asyncio.to_thread(write, engine, "t1", TaskState.SUCCESS)
        assert feed.subscribers == 0 and not feed.running
        return chunks

    chunks = [c for c in run(scenario) if c != PING]
    assert chunks[0].startswith("retry:")
    events = chunks[1:]
    assert [e.split("\n")[0] for e in events] == ["id: 2", "id: 3", "id: 4"]  # after Last-Event-ID 1
    assert '"state":"PROGRESS","progress":40,"message":"training"' in events[1]
    assert '"state":"SUCCESS","progress":100' in events[2]


def test_an_idle_stream_sends_heartbeats_and_a_closed_client_frees_its_subscription(engine: Engine) -> None:
    write(engine, "t1", TaskState.QUEUED)

    async def scenario() -> None:
        feed = feed_on(engine)
        stream = follow(feed, Interest(), history=lambda: ([], True), last_id=None, stop_at_final=False,
                        listing=True, heartbeat_s=0.01)
        assert (await collect(stream, lambda lines: lines.count(PING) >= 2))[-1] == PING
        assert feed.subscribers == 1
        await stream.aclose()  # what Starlette's cancellation does when the client goes away
        assert feed.subscribers == 0 and not feed.running

    run(scenario)
