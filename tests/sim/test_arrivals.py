"""Arrival times and durations: the right rates and means, from their own generators."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from router.sim.arrivals import PoissonArrivals, RateProfile
from router.sim.distributions import Constant, Empirical, Exponential, Lognormal


def arrivals(profile: RateProfile, until: float, seed: int = 1) -> list[float]:
    process = PoissonArrivals(profile, random.Random(seed))
    times = []
    while (t := process.next(until)) is not None:
        times.append(t)
    return times


def test_a_constant_rate_gives_poisson_counts() -> None:
    times = arrivals(RateProfile((0.0,), (0.5,), None), 40_000)
    # 20,000 expected; the Poisson sd is 141
    assert abs(len(times) - 20_000) < 600
    assert times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(2.0, rel=0.03)
    assert statistics.stdev(gaps) == pytest.approx(2.0, rel=0.05)  # exponential: sd = mean


def test_a_profile_follows_its_pieces_and_repeats() -> None:
    # a "day" of 100 s: nothing for 50 s, then 2 per second; three days
    profile = RateProfile((0.0, 50.0), (0.0, 2.0), 100.0)
    times = arrivals(profile, 300.0)
    assert all(t % 100 >= 50 for t in times)
    for day in range(3):
        count = sum(1 for t in times if day * 100 <= t < (day + 1) * 100)
        assert 60 < count < 140  # 100 expected, sd 10
    assert profile.mean_rate(300.0) == pytest.approx(1.0)
    assert profile.piece(250.0) == (2.0, 300.0)


def test_no_rate_no_arrivals_and_the_end_is_respected() -> None:
    assert arrivals(RateProfile((0.0,), (0.0,), None), 1e6) == []
    times = arrivals(RateProfile((0.0,), (1.0,), None), 10.0)
    assert times
    assert max(times) < 10.0


def test_durations_have_their_means() -> None:
    rng = random.Random(3)
    draws = [Exponential(180.0).sample(rng) for _ in range(40_000)]
    assert statistics.mean(draws) == pytest.approx(180.0, rel=0.03)
    lognormal = Lognormal(240.0, 120.0)
    draws = [lognormal.sample(rng) for _ in range(40_000)]
    assert statistics.mean(draws) == pytest.approx(240.0, rel=0.03)
    assert statistics.stdev(draws) == pytest.approx(120.0, rel=0.06)
    assert Constant(7.0).sample(rng) == 7.0
    empirical = Empirical((10.0, 20.0, 60.0), source="x.csv")
    assert empirical.mean == pytest.approx(30.0)
    assert {empirical.sample(rng) for _ in range(200)} == {10.0, 20.0, 60.0}
    assert "x.csv" in empirical.describe()


def test_the_same_generator_state_gives_the_same_draws() -> None:
    first = arrivals(RateProfile((0.0,), (0.1,), None), 1_000, seed=5)
    assert first == arrivals(RateProfile((0.0,), (0.1,), None), 1_000, seed=5)
    assert first != arrivals(RateProfile((0.0,), (0.1,), None), 1_000, seed=6)
