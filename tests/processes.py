"""`emulators serve` run as a user runs it: a subprocess on loopback, its output, its signals."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

EMULATORS = Path(sys.executable).with_name("emulators")  # this venv's console script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start(*argv: str) -> subprocess.Popen[str]:
    """`argv` starts with the program (e.g. EMULATORS, "serve", ...)."""
    return subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def serve(*args: str) -> subprocess.Popen[str]:
    return start(str(EMULATORS), "serve", *args)


def wait_until_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, object]:
    """Polls a health URL until it answers 200; fails at once if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before answering:\n{out}\n{err}")
        try:
            r = httpx.get(url, timeout=1)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT, timeout: float = 15,
         send: bool = True) -> tuple[int, str, str]:
    """Sends `sig` (Ctrl-C by default; `send=False`: already sent) and returns exit code, stdout
    and stderr."""
    if send and proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"did not stop within {timeout} s after signal {sig}:\n{out}\n{err}") from None
    return proc.returncode, out, err
