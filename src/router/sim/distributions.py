"""Random durations for handle time, patience and answer delay.

Each distribution draws from a `random.Random` the caller owns, so that every
stream of the simulation (arrivals, handle times, patience, agent answers) has
its own generator and two configs run on the very same draws (common random
numbers). Every draw is in seconds and never negative.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol


class Distribution(Protocol):
    @property
    def mean(self) -> float:
        """The distribution's mean in seconds (reports and Erlang formulas use it)."""

    def sample(self, rng: random.Random) -> float: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Constant:
    mean: float

    def sample(self, rng: random.Random) -> float:
        return self.mean

    def describe(self) -> str:
        return f"constant {self.mean:g} s"


@dataclass(frozen=True, slots=True)
class Exponential:
    mean: float

    def sample(self, rng: random.Random) -> float:
        # inverse transform: one uniform per draw, so the stream stays aligned across runs
        return -self.mean * math.log(1.0 - rng.random())

    def describe(self) -> str:
        return f"exponential, mean {self.mean:g} s"


@dataclass(frozen=True, slots=True)
class Lognormal:
    """Given by its own mean and standard deviation in seconds (what admins measure)."""

    mean: float
    sd: float

    @property
    def mu(self) -> float:
        return math.log(self.mean) - self.sigma**2 / 2

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log(1.0 + (self.sd / self.mean) ** 2))

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def describe(self) -> str:
        return f"lognormal, mean {self.mean:g} s, sd {self.sd:g} s"


@dataclass(frozen=True, slots=True)
class Empirical:
    """Resamples measured values (a CSV column): each draw is one of them, uniformly."""

    values: tuple[float, ...]
    source: str = ""

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def sample(self, rng: random.Random) -> float:
        return self.values[int(rng.random() * len(self.values))]

    def describe(self) -> str:
        return f"empirical, {len(self.values)} values from {self.source}, mean {self.mean:g} s"
