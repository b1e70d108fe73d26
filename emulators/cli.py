"""`emulators serve [PROVIDER ...]`: the command-line entry point (names fixed by design.md)."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from emulators import providers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emulators", description="Local emulators of AI provider APIs")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run emulators (all of them when none is named)")
    serve.add_argument("providers", nargs="*", metavar="PROVIDER")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="only with exactly one provider")
    serve.add_argument("--state-file", type=Path, help="keep state across restarts")
    serve.add_argument("--fixtures", type=Path, help="a folder with <provider>/ fixture folders")
    serve.add_argument("--check-contract", action="store_true",
                       help="validate every response against the contract; violations go to the journal")
    from emulators.contract_tools import commands

    commands.add_parsers(sub)
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is not None:  # verify, proxy
        return int(args.run(args))
    return _serve(parser, args)


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from emulators.engine.emulator import Emulator
    from emulators.server import StateFile, serve_all

    known = providers.ids()
    ids = args.providers or known
    unknown = [i for i in ids if i not in known]
    if unknown:
        parser.error(f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = {i: providers.get(i) for i in ids}
    if args.port is not None and len(ids) != 1:
        parser.error("--port goes with exactly one provider")
    state_file = StateFile(args.state_file) if args.state_file else None
    emulators = [Emulator(chosen[i], fixtures_dir=args.fixtures, contract_check=args.check_contract,
                          blob_dir=state_file.blob_dir if state_file else None) for i in ids]
    if state_file:
        state_file.load(emulators)
    ports = [args.port] if args.port is not None else [chosen[i].default_port for i in ids]
    for em, port in zip(emulators, ports):
        p = em.provider
        base = f"http://{args.host}:{port}{p.api_prefix}"
        print(f"{p.id:<11} {base:<36} token: test-token   {p.client_env}={base}", flush=True)
    print("control API: /_emulator/ on each port; Ctrl+C stops", flush=True)
    try:
        asyncio.run(serve_all(emulators, args.host, ports, state_file))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
