"""Path matching for a provider's endpoints: a dict for fixed paths, regexes for the rest."""
from __future__ import annotations

import re
from typing import Any

from starlette.routing import compile_path

from emulators.engine.http import Endpoint


class Router:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.fixed: dict[str, dict[str, Endpoint]] = {}
        self.templated: list[tuple[re.Pattern[str], dict[str, Any], dict[str, Endpoint]]] = []
        by_pattern: dict[str, dict[str, Endpoint]] = {}
        for ep in endpoints:
            if "{" in ep.path:
                by_pattern.setdefault(ep.path, {})[ep.method] = ep
            else:
                self.fixed.setdefault(ep.path, {})[ep.method] = ep
        for path, methods in by_pattern.items():
            regex, _, convertors = compile_path(path)
            self.templated.append((regex, convertors, methods))

    def match(self, method: str, path: str) -> tuple[Endpoint | None, dict[str, Any], tuple[str, ...]]:
        """(endpoint, path params, the methods the path has: empty when the path is unknown)."""
        methods = self.fixed.get(path)
        if methods is not None:
            return methods.get(method), {}, tuple(methods)
        for regex, convertors, methods in self.templated:
            m = regex.match(path)
            if m:
                params = {k: convertors[k].convert(v) for k, v in m.groupdict().items()}
                return methods.get(method), params, tuple(methods)
        return None, {}, ()
