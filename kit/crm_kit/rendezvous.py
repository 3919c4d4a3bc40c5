"""Choosing one of several people for a piece of work so that the same work and the same people always give
the same choice, whatever order the work arrives in or who holds how much of it meanwhile: rendezvous
(highest-random-weight) hashing. Each person scores sha256(key, person); the highest score wins. Even in
expectation; a person joining takes work only from others at random, a person leaving hands only their own
work on, each piece to its next in rank. Pure: no clock, no state, the same on every replica and every run."""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256


def rank(key: str, member: str) -> int:
    """How strongly `key` falls to `member`. The NUL keeps ("C1", "23") apart from ("C12", "3")."""
    return int.from_bytes(sha256(f"{key}\0{member}".encode()).digest(), "big")


def highest(key: str, members: Iterable[str]) -> str | None:
    """The member of the highest rank for `key` (equal ranks, which sha256 all but never gives: the smallest
    id); None when there is nobody."""
    return min(members, key=lambda m: (-rank(key, m), m), default=None)
