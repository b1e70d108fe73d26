"""The coalescing transport (emulators/wire.py): one socket write per small response, nothing
held past the loop turn it was written in, and the order of writes and close kept."""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from emulators import providers
from emulators.engine.emulator import Emulator
from emulators.server import ThreadedServer, server_config
from emulators.wire import HOLD_LIMIT, CoalescingHttpToolsProtocol, CoalescingTransport


class Recorder:
    """A transport that records the calls made on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name)


def run_turns(body: Any) -> Recorder:
    async def main() -> Recorder:
        real = Recorder()
        transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        await body(transport, real)
        return real

    return asyncio.run(main())


def test_writes_of_one_loop_turn_leave_in_one_write_at_the_end_of_the_turn() -> None:
    async def body(transport: CoalescingTransport, real: Recorder) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert real.calls == []  # held within the turn
        await asyncio.sleep(0)
        assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]
        transport.write(b"next")  # a later turn: its own write
        await asyncio.sleep(0)

    assert run_turns(body).calls[-1] == ("write", b"next")


def test_close_sends_what_was_held_first_and_abort_drops_it() -> None:
    async def closing(transport: CoalescingTransport, real: Recorder) -> None:
        transport.write(b"head")
        transport.write(b"body")
        transport.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left

    assert run_turns(closing).calls == [("write", b"headbody"), ("close", None)]

    async def aborting(transport: CoalescingTransport, real: Recorder) -> None:
        transport.write(b"head")
        transport.abort()
        await asyncio.sleep(0)

    assert run_turns(aborting).calls == [("abort", None)]

    async def eof(transport: CoalescingTransport, real: Recorder) -> None:
        transport.writelines([b"a", b"b"])
        transport.write_eof()

    assert run_turns(eof).calls == [("write", b"ab"), ("write_eof", None)]


def test_large_writes_are_not_copied_together_and_keep_their_order() -> None:
    big = b"x" * HOLD_LIMIT

    async def body(transport: CoalescingTransport, real: Recorder) -> None:
        transport.write(b"head")
        transport.write(big)  # would pass the limit: the head goes alone, the chunk is held
        transport.write(b"tail")
        await asyncio.sleep(0)

    assert run_turns(body).calls == [("write", b"head"), ("write", big), ("write", b"tail")]


def test_everything_else_is_the_real_transports() -> None:
    async def body(transport: CoalescingTransport, real: Recorder) -> None:
        assert transport.get_extra_info("peername") == ("127.0.0.1", 5)

    run_turns(body)


def test_the_servers_use_it_and_answer_over_a_socket() -> None:
    assert server_config(None, "127.0.0.1", 0).http is CoalescingHttpToolsProtocol
    server = ThreadedServer(Emulator(providers.get("kie"))).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            request = (b"GET /api/v1/chat/credit HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Authorization: Bearer test-token\r\n\r\n")
            for _ in range(3):  # keep-alive: each answer whole, in order
                sock.sendall(request)
                head, body = read_response(sock)
                assert head.startswith(b"HTTP/1.1 200 ")
                assert body == b'{"code":200,"msg":"success","data":100000}'
            sock.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            head, body = read_response(sock)
            assert b"connection: close" in head.lower() and body.startswith(b'{"code":200')
            started = time.monotonic()
            assert sock.recv(1) == b""  # the close comes after the answer, not instead of it
            assert time.monotonic() - started < 2
    finally:
        server.stop()


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the body"
        body += chunk
    assert len(body) == length
    return head, body
