"""Benchmark (not a test): PII detection time on adversarial text, which must grow linearly.

    .venv/bin/python -m tests.kai.bench_pii [N]

Each input is a run that a careless rule rescans from every position (O(n^2)): before the
rules were fixed, N=20000 took 3-34 s per input (the email, keyword, company and street rules);
now each input takes well under a second, and 10x N takes about 10x as long.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from emulators.providers.kai import pii

INPUTS = {
    "local-part run": "a.", "digits and dots": "1.1.1.", "hyphen run": "a-", "url-ish": "http://a.",
    "keyword + blanks": "Police", "keyword + tabs": "username", "date keyword + blanks": "geb.",
    "capitals with hyphens": "ABC-", "name-like hyphens": "Max-", "VAT-like": "CHE-", "street-like": "A-",
}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "kai" / "pii.yaml"
    lists = {k: list(v) for k, v in yaml.safe_load(fixtures.read_text()).items()}
    for name, unit in INPUTS.items():
        text = unit + " " * n + "!" if unit in ("Police", "username", "geb.") else unit * n
        started = time.perf_counter()
        pii.anonymize(text, set(pii.PII_TYPES), lists)
        print(f"{name:24s} {len(text):>9,d} chars {time.perf_counter() - started:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
