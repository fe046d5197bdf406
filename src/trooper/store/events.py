"""Fan-out of session updates to live listeners (GET /events), as ready-made SSE bytes:
each update is encoded once, whatever the number of listeners.

A listener that falls behind (its queue is full) is cut off rather than slowing the
store or growing memory; EventSource reconnects by itself and the page resyncs.
"""

from __future__ import annotations

import asyncio

import msgspec

_CLOSED = b""


def sse(event: str, data: msgspec.Struct) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


class Subscription:
    def __init__(self, hub: Broadcaster, size: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(size)

    def put(self, chunk: bytes) -> bool:
        try:
            self._queue.put_nowait(chunk)
            return True
        except asyncio.QueueFull:
            return False

    async def next(self) -> bytes | None:
        """The next SSE chunk, or None once the stream is over."""
        chunk = await self._queue.get()
        return chunk or None

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def end(self) -> None:
        """Wake the reader with the end of the stream, even if its queue is full."""
        while not self.put(_CLOSED):
            self._queue.get_nowait()


class Broadcaster:
    def __init__(self, queue_size: int = 512) -> None:
        self._subscribers: set[Subscription] = set()
        self._size = queue_size

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self._size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, chunk: bytes) -> None:
        for subscription in list(self._subscribers):
            if not subscription.put(chunk):
                self.unsubscribe(subscription)
                subscription.end()

    def close(self) -> None:
        for subscription in list(self._subscribers):
            self.unsubscribe(subscription)
            subscription.end()
