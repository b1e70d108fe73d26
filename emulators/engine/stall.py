"""Request bodies that stop arriving: given up after a timeout instead of held forever.

uvicorn has no such timeout: a client that sends half a body and then nothing keeps its
connection and its request task for as long as it likes.
"""
from __future__ import annotations

import asyncio
import weakref
from typing import Any

from starlette.types import Message, Receive, Scope

from emulators.engine.http import has_body


class BodyStalled(Exception):
    """No byte of a half-sent request body arrived for the emulator's `body_timeout` seconds.
    Not a ValueError: a provider's "bad body" handling must not turn it into its own error."""


def stall_guarded(scope: Scope, receive: Receive, timeout: float) -> Receive:
    """`receive`, except that waiting longer than `timeout` for the next piece of the request
    body raises BodyStalled. Requests without a body get `receive` itself, and once the body
    is complete (or the client gone) nothing is timed any more, so a long download that
    listens for a disconnect is never cut."""
    if not has_body(scope):
        return receive
    return _StallGuard(receive, timeout)


class _StallGuard:
    """Notes when each wait for the body began; the loop's sweeper cancels a wait that has
    lasted `timeout`. No timer per request: one uvloop timer armed and cancelled per request
    measured ~12 us, several times what the rest of a small request's body reading costs."""

    __slots__ = ("receive", "timeout", "waiter", "since", "stalled", "done")

    def __init__(self, receive: Receive, timeout: float) -> None:
        self.receive = receive
        self.timeout = timeout
        self.waiter: asyncio.Task[Any] | None = None
        self.since = 0.0
        self.stalled = False
        self.done = False

    async def __call__(self) -> Message:
        if self.done:
            return await self.receive()
        sweeper = _Sweeper.of_running_loop()
        task = asyncio.current_task()
        self.waiter, self.since = task, sweeper.loop.time()
        sweeper.watch(self)
        try:
            message = await self.receive()
        except asyncio.CancelledError:
            if not self.stalled or task is None:
                raise
            task.uncancel()  # the sweeper's own cancel, turned into an error the caller answers
            self.done = True
            raise BodyStalled() from None
        finally:
            self.waiter = None
            sweeper.active.discard(self)
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message


class _Sweeper:
    """One per event loop: while some body is awaited, a timer every quarter of the shortest
    timeout (at most a second) cancels the waits that have lasted their timeout."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # weakly: the sweeper is the value of a dictionary keyed weakly by its loop, and a
        # strong reference back would keep every loop that ever read a body alive
        self._loop = weakref.ref(loop)
        self.active: set[_StallGuard] = set()
        self.handle: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        assert loop is not None, "a sweeper outlived its loop"
        return loop

    _last: weakref.ref[_Sweeper] | None = None  # the common case, one loop: no dictionary lookup

    @classmethod
    def of_running_loop(cls) -> _Sweeper:
        loop = asyncio.get_running_loop()
        last = cls._last() if cls._last is not None else None
        if last is not None and last._loop() is loop:
            return last
        sweeper = cls._by_loop.get(loop)
        if sweeper is None:
            sweeper = cls._by_loop[loop] = cls(loop)
        cls._last = weakref.ref(sweeper)
        return sweeper

    def watch(self, guard: _StallGuard) -> None:
        self.active.add(guard)
        if self.handle is None:
            self.handle = self.loop.call_later(min(guard.timeout / 4, 1.0), self._sweep)

    def _sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for guard in list(self.active):
            if guard.waiter is not None and now - guard.since >= guard.timeout:
                guard.stalled = True
                guard.waiter.cancel()
                self.active.discard(guard)
        if self.active:
            interval = min(min(g.timeout for g in self.active) / 4, 1.0)
            self.handle = self.loop.call_later(interval, self._sweep)
