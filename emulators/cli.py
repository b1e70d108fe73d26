"""`emulators serve [PROVIDER ...]`: the command-line entry point (names fixed by design.md).

Exit status: 0 after Ctrl-C or SIGTERM (state saved), 1 when a port cannot be listened on,
2 for a usage error.
"""
from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from emulators import providers

if TYPE_CHECKING:
    from emulators.engine.chaos import Settings as ChaosSettings
    from emulators.engine.emulator import Emulator
    from emulators.engine.provider import Provider

DEMO_TOKEN = "test-token"  # seeded by every provider (design.md, "Seeded accounts")


class UsageError(Exception):
    """A bad combination of arguments found after parsing (exit 2, like argparse's own)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emulators", description="Local emulators of AI provider APIs")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run emulators (all of them when none is named)")
    serve.add_argument("providers", nargs="*", metavar="PROVIDER")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; any other exposes the control API)")
    serve.add_argument("--port", type=int, help="only with exactly one provider")
    serve.add_argument("--state-file", type=Path,
                       help="a SQLite database that keeps the state across restarts (every change "
                            "is written before its response)")
    serve.add_argument("--fixtures", type=Path, help="a folder with <provider>/ fixture folders")
    serve.add_argument("--check-contract", action="store_true",
                       help="validate every response against the contract; violations go to the journal")
    serve.add_argument("--strict", action="store_true",
                       help="validate every request too (and every response); each violation goes to the "
                            "journal and, as one line, to stderr; answers are never changed")
    serve.add_argument("--log-format", choices=["plain", "json"], default="plain",
                       help="access log on stderr: one plain line or one JSON object per request")
    serve.add_argument("--quiet", action="store_true", help="no access log")
    serve.add_argument("--control-token", metavar="T",
                       help="the control API (health aside) and the dashboard need 'Authorization: Bearer T'")
    serve.add_argument("--allow-host", action="append", default=[], metavar="H",
                       help="a host besides loopback that callbacks and URL fetches may reach "
                            "(repeatable; '*' for any)")
    serve.add_argument("--profile", metavar="NAME",
                       help="start in this behaviour profile (providers that have profiles: kie)")
    serve.add_argument("--chaos", type=int, metavar="SEED",
                       help="chaos mode: answers drawn from the contract's edges (documented errors, 429s "
                            "with Retry-After, slow answers, failing jobs, empty pages...), reproducibly for SEED")
    serve.add_argument("--chaos-rate", type=float, metavar="R",
                       help="with --chaos: the share of requests chaos meddles with, 0..1 (default 0.25)")
    from emulators.contract_tools import commands

    commands.add_parsers(sub)  # verify, proxy
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is not None:  # verify, proxy
        return int(args.run(args))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # docker stop: as clean as Ctrl-C
    try:
        return _serve(args)
    except UsageError as err:
        parser.exit(2, f"emulators {args.command}: error: {err}\n")
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) before the servers took over the signals
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(args: argparse.Namespace) -> int:
    known = providers.ids()
    ids: list[str] = args.providers or known
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(known)}")
    if args.port is not None and len(ids) != 1:
        raise UsageError("--port goes with exactly one provider")
    chaos = chaos_settings(args.chaos, args.chaos_rate)
    chosen = [providers.get(i) for i in ids]
    ports = [args.port] if args.port is not None else [p.default_port for p in chosen]

    from emulators import server
    from emulators.engine import accesslog
    from emulators.engine.db import Database, StateFileError
    from emulators.engine.emulator import Emulator

    sockets = []
    for port in ports:
        try:
            sockets.append(server.listen(args.host, port))
        except OSError as err:
            for sock in sockets:
                sock.close()
            print(f"emulators: cannot listen on {args.host}:{port}: {err.strerror or err}", file=sys.stderr)
            return 1
    state_file = None
    try:
        if args.state_file:
            state_file = Database(args.state_file).open()
        emulators = [Emulator(p, fixtures_dir=args.fixtures, contract_check=args.check_contract or args.strict,
                              blob_dir=state_file.blob_dir if state_file else None) for p in chosen]
        if state_file:
            state_file.attach(emulators)
    except StateFileError as err:
        for sock in sockets:
            sock.close()
        if state_file:
            state_file.close()
        print(f"emulators: {err}", file=sys.stderr)
        return 2
    log = None if args.quiet else accesslog.AccessLog(_stderr_fd(), args.log_format)
    if args.strict:
        from emulators.engine import strict

        for em in emulators:
            strict.enable(em, report=strict.ViolationReport(_stderr_fd()))
    for em in emulators:
        em.control_token = args.control_token  # read by the control API and the dashboard
        em.allowed_hosts = list(args.allow_host)
        accesslog.enable(em, log)
    profiled = apply_profile(emulators, args.profile) if args.profile else []
    for em in emulators:
        em.chaos.configure(chaos)
    print(banner(list(zip(chosen, ports)), args.host, profile=args.profile, profiled=profiled,
                 control_token=bool(args.control_token),
                 access_log="off" if args.quiet else args.log_format), flush=True)
    if chaos is not None:
        print(f"chaos mode: seed {chaos.seed}, rate {chaos.rate:g} (each chaotic answer is marked in "
              "/_emulator/journal; PUT/DELETE /_emulator/chaos changes it)", flush=True)
    warning = exposure_warning(args.host, args.control_token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    server.run(server.serve_all(emulators, args.host, ports, state_file, sockets=sockets))
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor
        return 2


# -- --chaos ---------------------------------------------------------------------------------
def chaos_settings(seed: int | None, rate: float | None) -> ChaosSettings | None:
    """The settings --chaos/--chaos-rate ask for (None: chaos off); a usage error when they do not fit."""
    from emulators.engine.chaos import parse_settings

    if seed is None:
        if rate is not None:
            raise UsageError("--chaos-rate goes with --chaos SEED")
        return None
    try:
        return parse_settings({"seed": seed} if rate is None else {"seed": seed, "rate": rate})
    except ValueError as err:
        raise UsageError(f"--chaos: {err}") from None


# -- --profile ---------------------------------------------------------------------------------
def apply_profile(emulators: list[Emulator], name: str) -> list[str]:
    """Starts every emulator whose provider has profiles in profile `name` (kept across resets);
    the others run as usual and are named on stderr. A usage error when none of them has
    profiles or one refuses the name. Returns the ids it was applied to."""
    applied, skipped = [], []
    for em in emulators:
        with em.lock:
            try:
                em.backend.launch_profile(name)
            except LookupError:
                skipped.append(em.provider.id)
                continue
            except (ValueError, TypeError) as err:
                raise UsageError(f"--profile {name}: {em.provider.id}: {err}") from None
        applied.append(em.provider.id)
    if not applied:
        raise UsageError(f"--profile: {', '.join(skipped)} {'has' if len(skipped) == 1 else 'have'} "
                         "no profiles")
    if skipped:
        print(f"emulators: --profile {name} applies to {', '.join(applied)}; "
              f"{', '.join(skipped)} {'has' if len(skipped) == 1 else 'have'} no profiles", file=sys.stderr)
    return applied


# -- the banner --------------------------------------------------------------------------------
def token_env(provider: Provider) -> str:
    """The variable a client would read its key from, beside `client_env` (its base URL):
    OPENAI_BASE_URL -> OPENAI_API_KEY, KIE_BASE_URL -> KIE_API_KEY, ..."""
    stem = provider.client_env.removesuffix("_BASE_URL") if provider.client_env else provider.id.upper()
    return f"{stem}_API_KEY"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may stand for any interface
        return False


def url_host(host: str) -> str:
    """The host to print in URLs: a wildcard address is reached through loopback here."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(served: list[tuple[Provider, int]], host: str, *, profile: str | None = None,
           profiled: Sequence[str] = (), control_token: bool = False, access_log: str = "plain") -> str:
    """What `serve` prints on stdout: per provider its base URL, the demo token, the line to
    paste into a shell and its dashboard; then how the control API is guarded."""
    shown = url_host(host)
    lines = []
    for p, port in served:
        root = f"http://{shown}:{port}"
        base = root + p.api_prefix
        note = f"   profile: {profile}" if p.id in profiled else ""
        lines += [f"{p.id:<11} {base:<36} token: {DEMO_TOKEN}{note}",
                  f"{'':<11} export {p.client_env}={base} {token_env(p)}={DEMO_TOKEN}",
                  f"{'':<11} dashboard: {root}/_emulator/ui"]
    guard = "need 'Authorization: Bearer <--control-token>'" if control_token else "are open"
    lines.append(f"control API (/_emulator/) and dashboards {guard}; access log on stderr: {access_log}; "
                 "Ctrl+C stops")
    return "\n".join(lines)


def exposure_warning(host: str, control_token: str | None) -> str | None:
    """For stderr when the control API can be reached from other machines without a token."""
    if is_loopback(host) or control_token:
        return None
    return (f"emulators: WARNING: listening on {host}: anyone who can reach this machine can use the "
            "control API (/_emulator/), which rewrites balances, accounts and the whole state. "
            "--control-token T makes it require a token (in a container, publish the ports on "
            "127.0.0.1 only).")


if __name__ == "__main__":
    sys.exit(main())
