"""Outbound requests an emulator makes on a client's behalf (callbacks, fetches of a URL the
client names), kept from being turned against the machine the emulators run on.

Every URL, and every redirect hop again, passes `OutboundPolicy.check` before a byte is sent:

- only `http` and `https`; no userinfo (`user@host`), no backslash or control
  character, an ASCII host name, a valid port: the URL means one thing to every parser;
- a path naming the control API (`_emulator`, in any case, however often percent-encoded)
  is refused on every host;
- the host must be loopback (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`, `::ffff:127.x`)
  or listed in the caller's allowed hosts (`"*"`: any); anything else (decimal or hex IPv4
  forms included) is a DNS name, allowed only by name;
- the name is resolved once, every address is checked, and the connection goes to those
  addresses (the name stays in `Host` and TLS SNI), so DNS cannot change its answer
  between the check and the request (rebinding);
- an address of this machine (loopback or unspecified) on a port an emulator listens on
  (`register_listener`, the providers' default ports, the caller's own ports): a callback is
  refused; a fetch is allowed only for a file (`GET /files/...`) of *another* emulator;
- redirects are followed by hand, each hop checked as above, at most `max_redirects` hops;
  callbacks (POST) never follow redirects.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import AsyncIterator, Iterable, Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpx

Purpose = Literal["fetch", "callback"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CONTROL_SEGMENT = "_emulator"
FILES_PREFIX = "/files/"
REDIRECTS = (301, 302, 303, 307, 308)
MAX_URL_LENGTH = 4096
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")

_listeners: set[int] = set()
_listeners_lock = threading.Lock()


class Refused(Exception):
    """The URL may not be reached; the message says why (safe to show to the client)."""


class FetchFailed(Exception):
    """The request was allowed but did not succeed (connection, timeout, HTTP status)."""


class TooLarge(Exception):
    """The fetched body is over the caller's limit."""


def register_listener(port: int) -> None:
    """An emulator of this process listens on `port` (servers call this when they start)."""
    with _listeners_lock:
        _listeners.add(port)


def unregister_listener(port: int) -> None:
    with _listeners_lock:
        _listeners.discard(port)


@cache
def _default_ports() -> frozenset[int]:
    """The providers' default ports (design.md): emulators are expected there."""
    from emulators import providers  # late: providers import the engine

    return frozenset(providers.get(i).default_port for i in providers.ids())


def emulator_ports() -> frozenset[int]:
    with _listeners_lock:
        return frozenset(_listeners) | _default_ports()


def port_of_scope(scope: dict[str, object]) -> int | None:
    """The port a request came in on when it came over a real socket (not an in-process client)."""
    server = scope.get("server")
    if not isinstance(server, (tuple, list)) or len(server) != 2 or not isinstance(server[1], int):
        return None
    if not _is_address(str(server[0])):
        return None  # "testserver" and other in-process stand-ins
    return server[1]


@lru_cache(maxsize=64)  # asked on every kie request, of the one or two addresses it listens on
def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def names_control_api(path: str) -> bool:
    """True when a server that percent-decodes (once or more) would see `_emulator` in the path."""
    seen = path
    for _ in range(4):
        decoded = unquote(seen)
        if decoded == seen:
            break
        seen = decoded
    return CONTROL_SEGMENT in seen.lower()


def _address(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    return ip


def is_local(ip: IPAddress) -> bool:
    """An address that reaches this machine."""
    return ip.is_loopback or ip.is_unspecified


def is_loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


@dataclass(frozen=True)
class Destination:
    """A checked URL and the addresses the request may connect to."""

    url: str
    scheme: str
    host: str  # as written (lower case), for Host and SNI
    port: int
    target: str  # path and query, as sent
    path: str  # decoded path
    addresses: tuple[IPAddress, ...]
    local: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, ip: IPAddress) -> httpx.URL:
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        return httpx.URL(f"{self.scheme}://{host}:{self.port}{self.target}")


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    content_type: str | None
    url: str  # after redirects


class OutboundPolicy:
    """Checks and sends outbound requests for one emulator.

    `allowed_hosts`: host names (or IP literals) reachable besides loopback; `"*"` allows any.
    `own_ports`: ports the calling emulator itself listens on (never reached from outside).
    """

    def __init__(self, allowed_hosts: Iterable[str] = (), own_ports: Iterable[int] = (),
                 resolve_timeout: float = 5.0) -> None:
        self.allowed = {h.lower().rstrip(".") for h in allowed_hosts}
        self.own_ports = frozenset(own_ports)
        self.resolve_timeout = resolve_timeout

    # -- the check ---------------------------------------------------------------------------------
    def parse(self, url: str) -> tuple[str, str, int, str, str]:
        """(scheme, host, port, target, decoded path) or Refused: the syntactic rules."""
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
            raise Refused("not a URL")
        if "\\" in url or any(ord(c) < 0x20 or ord(c) == 0x7f for c in url):
            raise Refused("the URL holds a backslash or a control character")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise Refused("the URL's host or port is malformed") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise Refused(f"only http and https URLs are fetched, not {scheme or 'a relative URL'}")
        if " " in parts.netloc:
            raise Refused("the URL's host holds a space")
        if "@" in parts.netloc:
            raise Refused("URLs with user information (user@host) are not followed")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise Refused("the URL has no host")
        if not host.isascii():
            raise Refused("the host must be ASCII (punycode for international names)")
        if port == 0:
            raise Refused("port 0 is not a port")
        port = port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not target.isascii() or " " in target:
            target = httpx.URL(url).raw_path.decode("ascii")  # percent-encoded, as httpx sends it
        path = unquote(parts.path or "/")
        if "%" in host:
            raise Refused("the host must not be percent-encoded")
        if names_control_api(parts.path):
            raise Refused("the emulators' control API (/_emulator/) is never reached from outside")
        return scheme, host, port, target, path

    def screen(self, url: str, purpose: Purpose) -> tuple[str, str, int, str, str, IPAddress | None]:
        """The checks that need no DNS: syntax, control path, allowed host, and the port rules
        for an IP literal. (scheme, host, port, target, decoded path, the literal's address)."""
        scheme, host, port, target, path = self.parse(url)
        literal = _address(host)
        allowed = "*" in self.allowed or host.lower() in self.allowed or (
            literal is not None and str(literal) in self.allowed)
        if literal is not None and not (literal.is_loopback or allowed):
            raise Refused(f"host {host} is not allowed (loopback only unless allowedHosts lists it)")
        if literal is None and not (is_loopback_name(host) or allowed):
            raise Refused(f"host {host} is not allowed (loopback only unless allowedHosts lists it)")
        if literal is not None and is_local(literal):
            self._check_local_port(port, path, purpose)
        return scheme, host.lower(), port, target, path, literal

    async def check(self, url: str, purpose: Purpose) -> Destination:
        """Every check, the name resolved: the destination the request is pinned to."""
        scheme, host, port, target, path, literal = self.screen(url, purpose)
        if literal is not None:
            addresses: tuple[IPAddress, ...] = (literal,)
        else:
            addresses = await self._resolve(host, port)
            if is_loopback_name(host) and not all(ip.is_loopback for ip in addresses):
                raise Refused(f"{host} does not resolve to loopback")
        local = any(is_local(ip) for ip in addresses)
        if local:
            self._check_local_port(port, path, purpose)
        return Destination(url, scheme, host, port, target, path, addresses, local)

    def _check_local_port(self, port: int, path: str, purpose: Purpose) -> None:
        if port in self.own_ports:
            raise Refused(f"port {port} is this emulator's own: it is not called back or fetched from")
        if port in emulator_ports():
            if purpose == "callback":
                raise Refused(f"port {port} is an emulator's: callbacks go to your own receiver")
            segments = path.split("/")
            if not path.startswith(FILES_PREFIX) or ".." in segments or "." in segments:
                raise Refused(f"port {port} is an emulator's: only its files (/files/...) are fetched")

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.resolve_timeout)
        except (OSError, asyncio.TimeoutError, UnicodeError):
            raise FetchFailed(f"cannot resolve {host}") from None
        found: list[IPAddress] = []
        for info in infos:
            ip = _address(str(info[4][0]).split("%", 1)[0])
            if ip is not None and ip not in found:
                found.append(ip)
        if not found:
            raise FetchFailed(f"cannot resolve {host}")
        return tuple(found)

    # -- sending ---------------------------------------------------------------------------------
    @asynccontextmanager
    async def _open(self, client: httpx.AsyncClient, method: str, dest: Destination,
                    content: bytes | None = None,
                    headers: dict[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        """A streamed response from the first checked address that accepts the connection."""
        extensions = {"sni_hostname": dest.host} if dest.scheme == "https" else {}
        last: Exception | None = None
        for ip in dest.addresses:
            request = client.build_request(method, dest.url_for(ip), content=content,
                                           headers={**(headers or {}), "Host": dest.host_header},
                                           extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = exc
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise last or FetchFailed("no address to connect to")

    async def post(self, url: str, content: bytes, headers: dict[str, str], timeout: float) -> int:
        """One callback attempt: the status code (redirects are not followed). Refused or an
        httpx error when it could not be sent."""
        dest = await self.check(url, "callback")
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            async with self._open(client, "POST", dest, content, headers) as response:
                return response.status_code

    async def get(self, url: str, max_bytes: int, timeout: float, max_redirects: int = 5) -> Fetched:
        """GET `url`, following at most `max_redirects` checked redirects, within `timeout`
        seconds in all. Refused, FetchFailed or TooLarge otherwise."""
        try:
            return await asyncio.wait_for(self._get(url, max_bytes, timeout, max_redirects), timeout)
        except asyncio.TimeoutError:
            raise FetchFailed("timed out") from None

    async def _get(self, url: str, max_bytes: int, timeout: float, max_redirects: int) -> Fetched:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for _ in range(max_redirects + 1):
                dest = await self.check(url, "fetch")
                try:
                    async with self._open(client, "GET", dest) as response:
                        location = response.headers.get("location")
                        if response.status_code in REDIRECTS and location:
                            url = urljoin(dest.url, location.strip())
                            continue
                        if response.status_code != 200:
                            raise FetchFailed(f"HTTP {response.status_code}")
                        chunks, size = [], 0
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > max_bytes:
                                raise TooLarge()
                            chunks.append(chunk)
                        ctype = response.headers.get("content-type")
                        return Fetched(200, b"".join(chunks),
                                       ctype.split(";")[0].strip() if ctype else None, dest.url)
                except httpx.TimeoutException:
                    raise FetchFailed("timed out") from None
                except httpx.HTTPError as exc:
                    raise FetchFailed(type(exc).__name__) from None
            raise Refused(f"more than {max_redirects} redirects")
