"""Chat completions without a model: the token rule and the deterministic replies.

Tokens (a stated approximation of a BPE tokenizer): every run of letters/digits costs one
token per started 4 characters; every other non-space character costs one token.
prompt_tokens = sum over messages of (4 + tokens(content)) + 3; completion_tokens =
tokens(reply). When max_tokens is smaller than the reply, the reply is cut after exactly
max_tokens tokens and finish_reason is "length".
"""
from __future__ import annotations

import re
from typing import Any

from emulators.providers.kai.models import Script

_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
PER_MESSAGE = 4
REPLY_PRIMING = 3


def token_ends(text: str) -> list[int]:
    """The end offset of every token of `text`, in order."""
    ends: list[int] = []
    for m in _TOKEN_RE.finditer(text):
        start, end = m.span()
        if text[start].isalnum() or text[start] == "_":
            ends.extend(range(start + 4, end, 4))
        ends.append(end)
    return ends


def count_tokens(text: str) -> int:
    return len(token_ends(text))


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(PER_MESSAGE + count_tokens(m["content"]) for m in messages) + REPLY_PRIMING


def truncate(text: str, max_tokens: int | None) -> tuple[str, int, bool]:
    """(text cut to max_tokens tokens, its token count, whether it was cut)."""
    ends = token_ends(text)
    if max_tokens is None or len(ends) <= max_tokens:
        return text, len(ends), False
    return text[:ends[max_tokens - 1]], max_tokens, True


def reply_for(messages: list[dict[str, Any]], scripts: list[Script], model: str) -> str:
    """A scripted reply for the last user message, else the stated rule."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    last = users[-1] if users else messages[-1]["content"]
    key = " ".join(last.split()).casefold()
    for script in scripts:
        target = script.match.casefold()
        if (script.mode == "exact" and key == target) or (script.mode == "contains" and target in key):
            return script.reply
    words = len(last.split())
    quoted = " ".join(last.split()[:30]) + (" ..." if words > 30 else "")
    return (f'You said: "{quoted}" ({words} word{"s" if words != 1 else ""}, message '
            f"{len(messages)} of the conversation). This is a deterministic reply from the kai "
            f"emulator ({model}).")
