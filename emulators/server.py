"""Running emulators on sockets: all in one process and one event loop (the CLI), or one in a
background thread (the pytest plugin's real-socket fixture)."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn

from emulators.engine.access import bound_host_entry
from emulators.engine.db import Database
from emulators.engine.emulator import Emulator
from emulators.engine.outbound import register_listener, unregister_listener

log = logging.getLogger("emulators")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what `docker stop` sends


def allow_bound_host(emulator: Emulator, host: str) -> None:
    """A server bound to a host name answers the control API under that name too."""
    entry = bound_host_entry(host)
    if entry is not None and entry not in emulator.allowed_hosts:
        emulator.allowed_hosts.append(entry)


def http_protocol() -> Any:
    """httptools with one write per small response (wire.py) where httptools is installed
    (uvicorn[standard]: measured ~2.8x faster than the pure-Python h11), else uvicorn's pick."""
    try:
        from emulators.wire import CoalescingHttpToolsProtocol
    except ImportError:  # no httptools (Windows without a wheel)
        return "auto"
    return CoalescingHttpToolsProtocol


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    # loop "auto" is uvloop where installed, asyncio where not (Windows)
    return uvicorn.Config(app, host=host, port=port, loop="auto", http=http_protocol(),
                          lifespan="on", log_level="warning", access_log=False,
                          timeout_graceful_shutdown=2)


class Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: several share one process, and whoever runs
    them (`serve_all`, a test thread) decides when they stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; OSError (address in use, ...) before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def run(main: Coroutine[Any, Any, None]) -> None:
    """Runs `main` on the event loop uvicorn would pick (uvloop where installed)."""
    factory = server_config(None, "127.0.0.1", 0).get_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def serve_all(emulators: list[Emulator], host: str, ports: list[int],
                    state_file: Database | None = None,
                    sockets: list[socket.socket] | None = None) -> None:
    """Serves until SIGINT or SIGTERM (a second one: stop without waiting for open requests),
    then closes the state file (every change is already in it). `sockets` (from `listen`, one
    per emulator) replace host and ports."""
    # Seeded state lives as long as the process: keep it out of the collector's scans (p99).
    gc.collect()
    gc.freeze()
    for em in emulators:
        allow_bound_host(em, host)
    servers = [Server(server_config(em, host, port)) for em, port in zip(emulators, ports)]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.force_exit = server.should_exit
            server.should_exit = True

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    for port in ports:
        register_listener(port)
    tasks = [asyncio.create_task(s.serve([sockets[i]] if sockets else None)) for i, s in enumerate(servers)]
    freezer = asyncio.create_task(_freeze_forever())
    try:
        await asyncio.gather(*tasks)
    finally:
        freezer.cancel()
        for server in servers:  # one server failing stops the others
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for em in emulators:  # a change written meanwhile outside any request
            with em.lock:
                em.store.flush()
        if state_file:
            state_file.close()
        for sig in STOP_SIGNALS:  # only now: a signal during the close must not cut it short
            loop.remove_signal_handler(sig)


async def _freeze_forever(seconds: float = 1.0) -> None:
    """Moves what survived the last second out of the cyclic collector's sight. The state is
    long-lived and holds no cycles worth collecting: left in view, 100k jobs made each full
    collection pause every request for up to a second (14 such pauses while 100k kie tasks were
    created, 9 s of collecting in all); frozen, a collection looks only at what is new.
    Measured: 5 objects of cyclic garbage went unnoticed over 30k requests."""
    while True:
        await asyncio.sleep(seconds)
        gc.freeze()


class ThreadedServer:
    """One emulator on a free port in a daemon thread; `stop()` shuts it down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(app, Emulator):
            allow_bound_host(app, host)
        self.server = Server(server_config(app, host, port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self.server.started:
                self._port = self.port
                register_listener(self._port)
                return self
            if not self.thread.is_alive():
                break
            deadline.wait(0.01)
        raise RuntimeError("emulator server did not start")

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if getattr(self, "_port", None):
            unregister_listener(self._port)
