"""Server-Sent Events: the wire format, the response class, and the streams' loop over a feed subscription."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable

from starlette.responses import StreamingResponse

from taskplatform.ledger.feed import IDLE, Interest, TransitionFeed
from taskplatform.ledger.transitions import Transition

#: A comment line this often keeps proxies and browsers from closing an idle stream.
HEARTBEAT_S = 15.0
#: How long a browser's EventSource waits before it reconnects after a stream ended.
RETRY_MS = 2000
#: Headers of every stream: never cached, never buffered by nginx (X-Accel-Buffering; the proxy's own
#: configuration says it too, docker/nginx.conf).
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def event(transition: Transition, *, listing: bool = False) -> str:
    data = json.dumps(transition.data(listing=listing), separators=(",", ":"))
    return f"id: {transition.id}\nevent: transition\ndata: {data}\n\n"


def opening() -> str:
    return f"retry: {RETRY_MS}\n\n"


PING = ": ping\n\n"


async def follow(feed: TransitionFeed, interest: Interest, *,
                 history: Callable[[], tuple[list[Transition], bool]], last_id: int | None,
                 stop_at_final: bool, listing: bool = False,
                 heartbeat_s: float = HEARTBEAT_S) -> AsyncGenerator[str, None]:
    """One stream: subscribe, replay `history()` (read after subscribing; it returns the transitions and whether to
    follow the live ones after them), then the live transitions, without a gap or a duplicate, and a comment after each
    `heartbeat_s` seconds of silence.

    It ends after a final state (`stop_at_final`); after the replay when `history()` says so (the task had already
    ended, or the replay was one page of a longer history); and when the
    subscription ends (it fell behind, or the application stops): in those two cases the client resumes with its
    last event id. A client that disconnects cancels the generator (Starlette); the subscription is dropped on
    the way out."""
    subscription = await feed.subscribe(interest)
    try:
        yield opening()
        replayed, follow_on = await asyncio.to_thread(history)
        for transition in replayed:
            yield event(transition, listing=listing)
            if stop_at_final and transition.final:
                return
        if not follow_on:
            return
        seen = {transition.id for transition in replayed}
        while True:
            item = await subscription.next(heartbeat_s)
            if item is None:
                return
            if item == IDLE or isinstance(item, str):
                yield PING
                continue
            # Skip what the replay gave, and (one task's ids commit in order) what the client had already.
            if item.id in seen or (not listing and last_id is not None and item.id <= last_id):
                continue
            yield event(item, listing=listing)
            if stop_at_final and item.final:
                return
    finally:
        feed.unsubscribe(subscription)
