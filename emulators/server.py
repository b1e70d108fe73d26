"""Running emulators on sockets: all in one process and one event loop (the CLI), or one in a
background thread (the pytest plugin's real-socket fixture)."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from pathlib import Path
from typing import Any

import uvicorn

from emulators.engine.access import bound_host_entry
from emulators.engine.emulator import Emulator

log = logging.getLogger("emulators")


def allow_bound_host(emulator: Emulator, host: str) -> None:
    """A server bound to a host name answers the control API under that name too."""
    entry = bound_host_entry(host)
    if entry is not None and entry not in emulator.allowed_hosts:
        emulator.allowed_hosts.append(entry)


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    # uvloop + httptools: measured ~2.8x faster than the pure-Python defaults on this machine.
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools",
                          lifespan="on", log_level="warning", access_log=False,
                          timeout_graceful_shutdown=2)


class StateFile:
    """`--state-file`: every emulator's snapshot in one JSON document, saved on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob_dir = path.with_name(path.name + ".blobs")
        self._last = ""

    def load(self, emulators: list[Emulator]) -> None:
        if not self.path.exists():
            return
        data = json.loads(self.path.read_text())
        for em in emulators:
            if em.provider.id in data:
                em.restore(data[em.provider.id])

    def save(self, emulators: list[Emulator]) -> None:
        text = json.dumps({em.provider.id: em.snapshot() for em in emulators})
        if text != self._last:
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(self.path)
            self._last = text


async def serve_all(emulators: list[Emulator], host: str, ports: list[int],
                    state_file: StateFile | None = None) -> None:
    # Seeded state lives as long as the process: keep it out of the collector's scans (p99).
    gc.collect()
    gc.freeze()
    for em in emulators:
        allow_bound_host(em, host)
    servers = [uvicorn.Server(server_config(em, host, port)) for em, port in zip(emulators, ports)]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    saver = asyncio.create_task(_save_periodically(emulators, state_file)) if state_file else None
    try:
        await asyncio.gather(*tasks)
    finally:
        if saver:
            saver.cancel()
        if state_file:
            state_file.save(emulators)


async def _save_periodically(emulators: list[Emulator], state_file: StateFile) -> None:
    while True:
        await asyncio.sleep(2)
        try:
            state_file.save(emulators)
        except Exception:
            log.exception("saving state")


class ThreadedServer:
    """One emulator on a free port in a daemon thread; `stop()` shuts it down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(app, Emulator):
            allow_bound_host(app, host)
        self.server = uvicorn.Server(server_config(app, host, port))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self.server.started:
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
