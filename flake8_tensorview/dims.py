"""Symbolic tensor sizes: monomials over named sizes, with generic-size semantics.

A size is ``coef * prod(atom ** power)``. Atoms are sizes the analysis cannot evaluate (``b``,
``x.shape[1]``, ``self.head_dim``); every atom is assumed to be an independent integer >= 2. Under
that assumption monomial divisibility decides ``<`` exactly as integer comparison would at distinct
large primes, so the view algorithm in :mod:`layout` can run on symbols and on literals alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Dim:
    coef: int
    powers: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def lit(n: int) -> Dim:
        return ZERO if n == 0 else Dim(n)

    @staticmethod
    def sym(name: str) -> Dim:
        return Dim(1, ((name, 1),))

    @property
    def literal(self) -> int | None:
        return None if self.powers else self.coef

    @property
    def is_one(self) -> bool:
        return self.coef == 1 and not self.powers

    def __mul__(self, other: Dim) -> Dim:
        if self.coef == 0 or other.coef == 0:
            return ZERO
        # powers are kept sorted by atom, one entry each: a literal factor leaves them as they are
        if not other.powers:
            return Dim(self.coef * other.coef, self.powers)
        if not self.powers:
            return Dim(self.coef * other.coef, other.powers)
        powers = dict(self.powers)
        for name, p in other.powers:
            powers[name] = powers.get(name, 0) + p
        return Dim(self.coef * other.coef, tuple(sorted(powers.items())))

    def divide(self, other: Dim) -> Dim | None:
        """``self / other`` when it is a monomial with non-negative powers, else None."""
        if other.coef == 0:
            return None
        if self.coef == 0:
            return ZERO
        if self.coef % other.coef:
            return None
        powers = dict(self.powers)
        for name, p in other.powers:
            left = powers.get(name, 0) - p
            if left < 0:
                return None
            if left:
                powers[name] = left
            else:
                powers.pop(name, None)
        return Dim(self.coef // other.coef, tuple(sorted(powers.items())))

    def divides(self, other: Dim) -> bool:
        return other.divide(self) is not None

    def atoms(self) -> set[str]:
        return {name for name, _ in self.powers}

    def substitute(self, subst: Mapping[str, Dim]) -> Dim:
        if not subst or not any(name in subst for name, _ in self.powers):
            return self  # none of its atoms is substituted: itself, already in normal form
        out = Dim(self.coef)
        for name, p in self.powers:
            base = subst.get(name)
            if base is None:
                out = out * Dim(1, ((name, p),))
            else:
                # without ``name``: a size written with itself (``c -> c * g``) or a cycle of
                # relations stops there instead of recursing for ever
                rest = {k: v for k, v in subst.items() if k != name}
                for _ in range(p):
                    out = out * base.substitute(rest)
        return out

    def __str__(self) -> str:
        parts = [] if self.coef == 1 and self.powers else [str(self.coef)]
        for name, p in self.powers:
            shown = name if _SIMPLE.fullmatch(name) else f"({name})"  # ``(d // heads)*t``
            parts.append(shown if p == 1 else f"{shown}**{p}")
        return "*".join(parts)


_SIMPLE = re.compile(r"[\w.\[\]@#]+")
"""An atom that reads as one factor without parentheses (``self.head_dim``, ``x.shape[1]``)."""

ZERO = Dim(0)
ONE = Dim(1)


def product(dims: Iterable[Dim]) -> Dim:
    out = ONE
    for d in dims:
        out = out * d
    return out


def contiguous_strides(shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    strides: list[Dim] = []
    running = ONE
    for size in reversed(shape):
        strides.append(running)
        running = running * size
    return tuple(reversed(strides))
