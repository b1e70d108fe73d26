"""docker-compose.yml and the Dockerfile agree with the CLI.

There is no Docker engine on CI, so every compose service's command line (the image's
ENTRYPOINT from the Dockerfile + the service's `command`) runs here as a subprocess, and its
healthcheck's own command line is run against it. What only makes sense inside a container is
replaced, and nothing else:

| in the container                        | here                                               |
|-----------------------------------------|----------------------------------------------------|
| `emulators` (the image's console script) | this venv's `emulators`                            |
| `--host 0.0.0.0` (reachable through the published port) | `--host 127.0.0.1`                  |
| the named volume mounted at `/data`     | a tmp folder                                       |
| a default port (8801-8805)              | the same port; if it is taken on this machine, a free one as `--port N` (one-provider services; the healthcheck URL follows) |
| `python` in a healthcheck               | this venv's Python                                 |

The five one-provider services start together; the all-in-one service once, on the default ports.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from emulators import cli, providers
from tests.processes import EMULATORS, free_port, port_is_free, start, stop, wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+|\{port\})/_emulator/health")


def _instruction(name: str) -> list[str]:
    """A Dockerfile instruction in JSON (exec) form, e.g. ENTRYPOINT ["emulators", "serve"]."""
    found = re.findall(rf"^{name}\s+(\[.*\])\s*$", DOCKERFILE, re.MULTILINE)
    assert len(found) == 1, f"one {name} in JSON form expected"
    return list(json.loads(found[0]))


ENTRYPOINT = _instruction("ENTRYPOINT")


@dataclass
class Plan:
    """What a service runs and where it answers, as the CLI itself reads its command line."""

    service: str
    argv: list[str]  # in the container
    ports: dict[str, int]  # provider id -> container port
    volume_target: str
    state_file: str
    health: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, name: str) -> Plan:
        svc = SERVICES[name]
        argv = ENTRYPOINT + list(svc["command"])
        assert argv[:2] == ["emulators", "serve"], argv
        args = cli.build_parser().parse_args(argv[1:])
        ids = args.providers or providers.ids()
        ports = {i: args.port if args.port is not None else providers.get(i).default_port for i in ids}
        (volume,) = svc["volumes"]
        source, target = volume.split(":")[:2]
        assert source in COMPOSE["volumes"], "state lives in a named volume"
        assert args.state_file is not None and str(args.state_file).startswith(target + "/")
        assert args.host == "0.0.0.0"  # inside the container only: the CLI's default stays loopback
        return cls(name, argv, ports, target, str(args.state_file), list(svc["healthcheck"]["test"]))


PLANS = {name: Plan.of(name) for name in SERVICES}
SINGLE = [name for name in SERVICES if name != "all"]


# -- what can be read without running anything ---------------------------------------------------
def test_one_service_per_provider_and_one_with_all_five() -> None:
    assert sorted(SINGLE) == sorted(providers.ids())
    for name in SINGLE:
        assert list(PLANS[name].ports) == [name]
    assert list(PLANS["all"].ports) == providers.ids()
    assert SERVICES["all"]["profiles"] == ["all"]  # same ports as the five: started only when named


@pytest.mark.parametrize("name", list(SERVICES))
def test_published_ports_and_healthcheck_agree_with_the_cli(name: str) -> None:
    plan = PLANS[name]
    published = []
    for mapping in SERVICES[name]["ports"]:
        host_ip, host_port, container_port = str(mapping).split(":")
        assert host_ip == "127.0.0.1", "published on loopback only: the control API rewrites state"
        assert host_port == container_port
        published.append(int(container_port))
    assert sorted(published) == sorted(plan.ports.values())
    test = plan.health
    assert test[:3] == ["CMD", "python", "-c"], "the slim image has no curl"
    urls = HEALTH_URL.findall(test[3])
    if name == "all":  # one URL pattern over a table of (provider, port)
        assert urls == ["{port}"]
        table = dict(re.findall(r"\('(\w+)', (\d+)\)", test[3]))
        assert {k: int(v) for k, v in table.items()} == plan.ports
    else:
        assert [int(u) for u in urls] == list(plan.ports.values()) and f"'{name}'" in test[3]


def test_every_service_keeps_its_own_state_file_on_the_volume() -> None:
    files = [plan.state_file for plan in PLANS.values()]
    assert len(set(files)) == len(files)
    assert all(plan.volume_target == "/data" for plan in PLANS.values())
    assert "mkdir /data && chown emulators:emulators /data" in DOCKERFILE  # the volume's owner


def test_the_image_runs_emulators_serve_as_a_non_root_user() -> None:
    assert ENTRYPOINT == ["emulators", "serve"]
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", DOCKERFILE, re.MULTILINE) for p in line.split()}
    assert exposed == {providers.get(i).default_port for i in providers.ids()}
    default = cli.build_parser().parse_args(["serve", *_instruction("CMD")])
    assert default.providers == [] and default.host == "0.0.0.0" and default.state_file is not None
    # .dockerignore leaves out everything but what the Dockerfile copies
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    copied = [src for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, re.MULTILINE) for src in line.split()[:-1]]
    assert rules[0] == "*" and copied
    for src in copied:
        assert f"!{src}" in rules or f"!{src}/" in rules, src


# -- running them ---------------------------------------------------------------------------------
@dataclass
class Local:
    """One service's command line started here, with the container-only parts replaced."""

    plan: Plan
    ports: dict[str, int]  # provider id -> the port it listens on here
    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, plan: Plan, data_dir: Path, may_move: bool) -> Local:
        argv = [str(EMULATORS)] + plan.argv[1:]
        argv[argv.index("--host") + 1] = "127.0.0.1"
        state = argv.index("--state-file") + 1
        argv[state] = str(data_dir / Path(argv[state]).relative_to(plan.volume_target))
        ports = dict(plan.ports)
        if may_move:
            (pid, port), = ports.items()
            if not port_is_free(port):
                ports[pid] = free_port()
                argv += ["--port", str(ports[pid])]
        else:
            _wait_for_free(list(ports.values()))
        return cls(plan, ports, start(*argv))

    def healthcheck_argv(self) -> list[str]:
        code = self.plan.health[3]
        for pid, port in self.plan.ports.items():
            code = code.replace(f":{port}/", f":{self.ports[pid]}/")
        return [sys.executable, "-c", code]


def _wait_for_free(ports: list[int], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not all(port_is_free(p) for p in ports):
        assert time.monotonic() < deadline, f"the all-in-one service needs ports {ports}; one is taken here"
        time.sleep(0.2)


def _check_running(local: Local) -> None:
    """Healthy on every port, each answered by its provider; the healthcheck command agrees."""
    for pid, port in local.ports.items():
        health = wait_until_healthy(f"http://127.0.0.1:{port}/_emulator/health", local.proc)
        assert health == {"status": "ok", "provider": pid}
    check = subprocess.run(local.healthcheck_argv(), capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def _stop_like_docker(local: Local, data_dir: Path, send: bool = True) -> None:
    code, out, err = stop(local.proc, signal.SIGTERM, send=send)  # `docker stop`
    assert code == 0 and "Traceback" not in err, err
    for pid, port in local.ports.items():
        assert f"http://127.0.0.1:{port}" in out  # the banner
    state = data_dir / Path(local.plan.state_file).relative_to(local.plan.volume_target)
    assert state.exists(), "the state file is written on the volume"


def test_each_provider_service_answers_its_healthcheck(tmp_path: Path) -> None:
    started = [Local.start(PLANS[name], tmp_path, may_move=True) for name in SINGLE]
    try:
        for local in started:
            _check_running(local)
        # the healthcheck fails when another provider answers on its port
        kai, kie = (next(x for x in started if x.plan.service == n) for n in ("kai", "kie"))
        wrong = kie.healthcheck_argv()
        wrong[-1] = wrong[-1].replace(f":{kie.ports['kie']}/", f":{kai.ports['kai']}/")
        assert subprocess.run(wrong, capture_output=True, timeout=30).returncode != 0
    finally:
        for local in started:  # all at once, as `docker compose stop` does
            local.proc.send_signal(signal.SIGTERM)
        for local in started:
            _stop_like_docker(local, tmp_path, send=False)


def test_the_all_in_one_service_answers_its_healthcheck_on_all_five_ports(tmp_path: Path) -> None:
    local = Local.start(PLANS["all"], tmp_path, may_move=False)
    try:
        _check_running(local)
        r = httpx.get("http://127.0.0.1:8802/api/v1/chat/credit", headers={"Authorization": "Bearer test-token"})
        assert r.status_code == 200
    finally:
        _stop_like_docker(local, tmp_path)
