"""The command lines of `emulators verify` and `emulators proxy` (registered by emulators.cli).

Only argparse here: the work is imported when a command runs, so `emulators serve` starts as
fast as before.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    from emulators import providers

    known = providers.ids()
    verify = sub.add_parser(
        "verify", help="check a running API (an emulator or the live service) against its contract",
        description="Calls the provider's API as its plan (contracts/verify/<id>.yaml) says and checks every "
                    "answer against contracts/<id>.yaml. Exit 0: no drift; 1: drift; 2: could not run.")
    verify.add_argument("provider", metavar="PROVIDER", choices=known)
    verify.add_argument("--base-url", required=True, help="the base URL a client uses (as `emulators serve` prints it)")
    verify.add_argument("--token", required=True, help="the API token (never printed)")
    verify.add_argument("--allow-spend", action="store_true",
                        help="also run the calls that spend money or create things, following one job of each kind")
    verify.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for a job to end, or for throttling to pass (default 600)")
    verify.add_argument("--poll-interval", type=float, default=None,
                        help="seconds between polls of a job (default: the provider's documented interval)")
    verify.add_argument("--allow-extra-fields", action="store_true",
                        help="do not count fields the contract does not declare as drift")
    verify.add_argument("--var", action="append", metavar="NAME=VALUE",
                        help="a value the plan uses (e.g. a voice id of your account); repeatable")
    verify.add_argument("--report", type=Path, help="write the JSON report (design.md's format) to this file")
    verify.set_defaults(run=_verify)

    proxy = sub.add_parser(
        "proxy", help="forward to the live API and journal every answer that drifts from the contract",
        description="Serves the provider's paths, forwards each request to --upstream and returns its answer "
                    "unchanged; answers that do not match contracts/<id>.yaml go to /_emulator/journal, and a "
                    "summary is printed on exit.")
    proxy.add_argument("provider", metavar="PROVIDER", choices=known)
    proxy.add_argument("--upstream", required=True, help="the URL to forward to (the live API's host)")
    proxy.add_argument("--host", default="127.0.0.1")
    proxy.add_argument("--port", type=int, help="default: the provider's emulator port")
    proxy.add_argument("--allow-extra-fields", action="store_true",
                       help="do not count fields the contract does not declare as drift")
    proxy.set_defaults(run=_proxy)


def _verify(args: argparse.Namespace) -> int:
    from emulators.contract_tools import verify

    return verify.run(args)


def _proxy(args: argparse.Namespace) -> int:
    from emulators.contract_tools import proxy

    return proxy.run(args)
