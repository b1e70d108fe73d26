"""Balances in named pools with atomic charge and refund.

A wallet spends its pools in declaration order (voiceclone: regular before permanent). Amounts
are integers in the provider's smallest unit (credits, K-coin cents, quota characters) so that
no rounding can lose or invent money. Callers hold the store lock, which makes check-and-charge
atomic across concurrent requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class InsufficientFunds(Exception):
    def __init__(self, available: int, needed: int) -> None:
        super().__init__(f"needs {needed}, has {available}")
        self.available = available
        self.needed = needed


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
