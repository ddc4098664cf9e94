"""The Erlang formulas against published table values and exact special cases."""

from __future__ import annotations

import math

import pytest

from router.sim.erlang import erlang_a_figures, erlang_b, erlang_c, erlang_c_figures


def test_erlang_b_matches_published_tables() -> None:
    # Erlang B tables: 10 Erlangs on 10 trunks block 21.46 %; 1 on 1 half the time
    assert erlang_b(10, 10.0) == pytest.approx(0.2146, abs=5e-5)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_b(0, 3.0) == 1.0


def test_erlang_c_matches_published_values() -> None:
    # the textbook call-centre example: 10 Erlangs on 11 agents wait with probability 68.21 %
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    # M/M/1 waits with probability rho; M/M/2 at a = 1: 1/3 exactly
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="Erlang C diverges"):
        erlang_c(5, 5.0)


def test_erlang_c_figures_follow_from_the_wait_probability() -> None:
    # 360 calls an hour, AHT 100 s: a = 10 Erlangs on 11 agents
    figures = erlang_c_figures(0.1, 100.0, 11, 20.0)
    c = erlang_c(11, 10.0)
    assert figures.asa_seconds == pytest.approx(c / (11 / 100 - 0.1))  # 68.2 s
    assert figures.asa_seconds == pytest.approx(68.21, abs=0.01)
    assert figures.service_level == pytest.approx(1 - c * math.exp(-0.01 * 20))
    assert figures.occupancy == pytest.approx(10 / 11)


def test_erlang_a_with_patience_equal_to_handle_time_is_poisson() -> None:
    # theta = mu: everyone leaves at the same rate, the number present is Poisson(a)
    load, servers = 8.0, 10
    figures = erlang_a_figures(load / 100.0, 100.0, 100.0, servers)
    poisson = [math.exp(-load) * load**n / math.factorial(n) for n in range(120)]
    wait = sum(poisson[servers:])
    queue = sum((n - servers) * p for n, p in enumerate(poisson) if n > servers)
    assert figures.wait_probability == pytest.approx(wait, rel=1e-9)
    assert figures.mean_queue == pytest.approx(queue, rel=1e-9)
    assert figures.abandon_probability == pytest.approx(queue / load, rel=1e-9)


def test_erlang_a_approaches_erlang_c_as_patience_grows() -> None:
    patient = erlang_a_figures(0.045, 200.0, 1e9, 10)
    assert patient.wait_probability == pytest.approx(erlang_c(10, 9.0), rel=1e-4)
    assert patient.abandon_probability < 1e-6
    assert patient.mean_wait_seconds == pytest.approx(
        erlang_c_figures(0.045, 200.0, 10, 20).asa_seconds, rel=1e-4
    )


def test_erlang_a_stays_finite_when_offered_more_than_the_agents_can_take() -> None:
    # overload is stable with abandonment: at a = 12 on 10 agents many leave
    figures = erlang_a_figures(0.12, 100.0, 60.0, 10)
    assert 0.1 < figures.abandon_probability < 0.5
    assert figures.occupancy < 1.0
