"""Who may use the control API and the dashboard (`/_emulator/...`).

The control API can read every token and webhook key and rewrite the whole state, and it
usually runs on a developer's machine next to a browser. So, before any control call:

- Host: only a loopback name (`localhost`, `*.localhost`), an IP address, the in-process test
  client's `testserver`, or a host configured in `Emulator.allowed_hosts`. DNS rebinding
  needs a name the attacker controls in the Host header; an IP literal is the address the
  client itself connected to, and a page of another origin cannot read the answer.
- Browsers: a state-changing call (anything but GET/HEAD) that a browser marks as coming from
  another site or origin (`Sec-Fetch-Site`, `Origin`) is refused, and every body must be
  `application/json`, which no cross-site "simple" request (form, `text/plain` fetch) can send.
- Token: with `Emulator.control_token` set, `Authorization: Bearer <token>` (constant-time
  compare).

`GET /_emulator/health` passes every check (it reveals nothing, and orchestrators probe it by
any name), and the dashboard's static shell (`GET /_emulator/ui...`, no data in it) needs no
token: its data calls go to the control API with the token like any other client.
"""
from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import Headers

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

LOOPBACK_NAMES = frozenset({"localhost", "testserver"})  # testserver: starlette's TestClient
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})
SAFE_METHODS = frozenset({"GET", "HEAD"})
PUBLIC = frozenset({"health"})  # every check skipped (GET only)
TOKENLESS_STATIC = frozenset({"ui"})  # the dashboard's shell: host checked, no token (GET only)


class Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def check(emulator: Emulator, method: str, resource: str, headers: Headers) -> None:
    """Raises Refused (403 host or cross-site, 401 token, 415 content type) or returns."""
    safe = method in SAFE_METHODS
    if safe and resource in PUBLIC:
        return
    host = headers.get("host", "")
    if not host_allowed(host, emulator.allowed_hosts):
        name = host_name(host) or "(none)"
        raise Refused(403, f"Host {name!r} may not use the control API; "
                           f"serve with --allow-host {name} to allow it")
    if emulator.control_token is not None and not (safe and resource in TOKENLESS_STATIC):
        if not token_matches(headers.get("authorization"), emulator.control_token):
            raise Refused(401, "the control API needs 'Authorization: Bearer <control token>'",
                          {"WWW-Authenticate": 'Bearer realm="emulator control"'})
    if not safe:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise Refused(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, host):
            raise Refused(403, "cross-origin request refused (Origin does not match Host)")
    ctype = headers.get("content-type")
    if ctype is not None and not is_json(ctype):
        raise Refused(415, "the control API takes only 'Content-Type: application/json' bodies")
    if ctype is None and announces_body(headers):
        raise Refused(415, "a body needs 'Content-Type: application/json'")


def host_name(host: str) -> str:
    """`Example.COM:8801` -> `example.com`; `[::1]:8801` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def host_allowed(host: str, allowed: list[str]) -> bool:
    name = host_name(host)
    if not name:
        return False
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    for entry in allowed:
        entry = host_name(entry)
        if entry == "*" or entry == name or (entry.startswith(".") and
                                              (name == entry[1:] or name.endswith(entry))):
            return True
    return False


def bound_host_entry(host: str) -> str | None:
    """The name a server bound to `host` should also answer to (None for wildcards and IPs,
    which the rules above already cover)."""
    name = host_name(host)
    if name in WILDCARD_HOSTS:
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        return name


def token_matches(authorization: str | None, token: str) -> bool:
    if not authorization or authorization[:7].lower() != "bearer ":
        return False
    given = authorization[7:].strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, token.encode("utf-8"))


def same_origin(origin: str, host: str) -> bool:
    if origin == "null":  # sandboxed frames, file:// pages
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def is_json(ctype: str) -> bool:
    return ctype.split(";", 1)[0].strip().lower() == "application/json"


def announces_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return (length is not None and length.strip() not in ("", "0")) or "transfer-encoding" in headers
