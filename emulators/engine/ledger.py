"""Balances in named pools with atomic charge and refund.

A wallet spends its pools in declaration order (voiceclone: regular before permanent). Amounts
are integers in the provider's smallest unit (credits, K-coin cents, quota characters) so that
no rounding can lose or invent money. Callers hold the store lock, which makes check-and-charge
atomic across concurrent requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn


class InsufficientFunds(Exception):
    def __init__(self, available: int, needed: int) -> None:
        super().__init__(f"needs {needed}, has {available}")
        self.available = available
        self.needed = needed


class Parts(dict):  # type: ignore[type-arg]
    """What a charge took from each pool, shared by every charge of the same amount from the
    same single pool (its ledger entry and the job that keeps it for a refund hold one object,
    and 100k jobs at one price hold one): so read-only. Build a new dict to change one."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("charge parts are shared: copy them (dict(parts)) to change them")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    pop = popitem = clear = update = setdefault = _read_only  # type: ignore[assignment]

    def __copy__(self) -> dict[str, int]:
        return dict(self)

    def __deepcopy__(self, memo: Any) -> dict[str, int]:
        return dict(self)

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


_PARTS: dict[tuple[str, int], Parts] = {}
_PARTS_MAX = 4096  # distinct (pool, amount) pairs kept: the prices a run charges over and over


def shared_parts(pool: str, amount: int) -> dict[str, int]:
    """The read-only `{pool: amount}`: one object per distinct pair (while the table, started
    afresh when full, keeps it)."""
    key = (pool, amount)
    found = _PARTS.get(key)
    if found is not None:
        return found
    if len(_PARTS) >= _PARTS_MAX:
        _PARTS.clear()
    parts = _PARTS[key] = Parts({pool: amount})
    return parts


@dataclass(slots=True)
class Wallet:
    pools: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.pools.values())

    def charge(self, amount: int) -> dict[str, int]:
        """Takes `amount` from the pools in order; returns what came from each (for a refund)."""
        if amount < 0:
            raise ValueError("a charge is never negative")
        available = self.total()
        if amount > available:
            raise InsufficientFunds(available, amount)
        parts: dict[str, int] = {}
        left = amount
        for name, balance in self.pools.items():
            if left == 0:
                break
            take = min(balance, left)
            if take:
                self.pools[name] = balance - take
                parts[name] = take
                left -= take
        if len(parts) == 1:
            return shared_parts(*next(iter(parts.items())))
        return parts

    def take(self, parts: dict[str, int]) -> None:
        """Takes exactly `parts` (pool -> amount), all or nothing."""
        short = {name: amount for name, amount in parts.items() if self.pools.get(name, 0) < amount}
        if short:
            raise InsufficientFunds(self.total(), sum(parts.values()))
        for name, amount in parts.items():
            self.pools[name] -= amount

    def refund(self, parts: dict[str, int]) -> None:
        for name, amount in parts.items():
            self.pools[name] = self.pools.get(name, 0) + amount


@dataclass(slots=True)
class LedgerEntry:
    """One movement of money, kept for the control API and for auditing tests."""

    time: float
    token: str
    kind: str  # "charge" | "refund" | "grant"
    amount: int
    parts: dict[str, int]
    ref: str  # what it paid for (job id, ...)
