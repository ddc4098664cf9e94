"""strategies.round_robin and strategies.best_score."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plugin_fakes import FakeAgent, agent, queue

from router.model import QueueConfig
from router_plugins.strategies import best_score, round_robin

RR = queue("rr", strategy="round_robin")

# -- round_robin ---------------------------------------------------------------


@pytest.fixture
def rr_plugin() -> round_robin.Plugin:
    """A fresh instance: no queue has a last pick yet."""
    return round_robin.Plugin()


def _pick(plugin: round_robin.Plugin, candidates: list[FakeAgent], q: QueueConfig = RR) -> str:
    index = plugin.router_select_agent(queue=q, candidates=candidates)
    assert index is not None
    return candidates[index].id


def test_round_robin_takes_turns_in_id_order_and_wraps(rr_plugin: round_robin.Plugin) -> None:
    candidates = [agent("c"), agent("a"), agent("b")]
    assert [_pick(rr_plugin, candidates) for _ in range(5)] == ["a", "b", "c", "a", "b"]


def test_round_robin_follows_the_last_pick_when_candidates_change(
    rr_plugin: round_robin.Plugin,
) -> None:
    assert _pick(rr_plugin, [agent("b"), agent("d")]) == "b"
    assert _pick(rr_plugin, [agent("a"), agent("c"), agent("e")]) == "c"  # next after "b"
    assert _pick(rr_plugin, [agent("a"), agent("b")]) == "a"  # nothing after "c": wrap
    assert _pick(rr_plugin, [agent("a")]) == "a"


def test_round_robin_remembers_per_queue(rr_plugin: round_robin.Plugin) -> None:
    other = queue("other", strategy="round_robin")
    candidates = [agent("a"), agent("b")]
    assert _pick(rr_plugin, candidates) == "a"
    assert _pick(rr_plugin, candidates, other) == "a"
    assert _pick(rr_plugin, candidates) == "b"
    assert _pick(rr_plugin, candidates, other) == "b"
    assert rr_plugin.last_picked == {"rr": "b", "other": "b"}


def test_round_robin_forgets_on_configure(rr_plugin: round_robin.Plugin) -> None:
    candidates = [agent("a"), agent("b")]
    assert _pick(rr_plugin, candidates) == "a"
    rr_plugin.router_configure()
    assert rr_plugin.last_picked == {}
    assert _pick(rr_plugin, candidates) == "a"


def test_round_robin_instances_keep_their_own_turns(rr_plugin: round_robin.Plugin) -> None:
    candidates = [agent("a"), agent("b")]
    assert _pick(rr_plugin, candidates) == "a"
    other = round_robin.Plugin()
    assert _pick(other, candidates) == "a"  # `other` has picked nobody yet
    assert _pick(rr_plugin, candidates) == "b"


def test_round_robin_passes_for_other_strategies_and_no_candidates(
    rr_plugin: round_robin.Plugin,
) -> None:
    assert rr_plugin.router_select_agent(queue=queue(), candidates=[agent("a")]) is None
    assert rr_plugin.router_select_agent(queue=RR, candidates=[]) is None
    assert rr_plugin.last_picked == {}  # passing remembers nothing


@given(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=8, unique=True))
def test_round_robin_visits_everyone_once_per_turn(ids: list[str]) -> None:
    plugin = round_robin.Plugin()  # per example: @given refuses function-scoped fixtures
    candidates = [agent(i) for i in ids]
    picks = [_pick(plugin, candidates) for _ in range(2 * len(ids))]
    assert picks == sorted(ids) * 2


# -- best_score ----------------------------------------------------------------


def test_best_score_highest_total_wins() -> None:
    candidates = [agent("a"), agent("b"), agent("c")]
    assert best_score.router_select_agent(candidates=candidates, totals=[0.5, 2.0, 1.9]) == 1


def test_best_score_tie_goes_to_the_longest_idle_then_smallest_id() -> None:
    candidates = [
        agent("d", idle_since=30.0),
        agent("c", idle_since=10.0),
        agent("b", idle_since=10.0),
        agent("a", idle_since=5.0),
    ]
    assert best_score.router_select_agent(candidates=candidates, totals=[1.0, 1.0, 1.0, 0.5]) == 2
    assert best_score.router_select_agent(candidates=candidates, totals=[1.0, 1.0, 1.0, 1.0]) == 3
    assert best_score.router_select_agent(candidates=candidates, totals=[2.0, 1.0, 1.0, 1.0]) == 0


def test_best_score_edge_cases() -> None:
    assert best_score.router_select_agent(candidates=[], totals=[]) is None
    assert best_score.router_select_agent(candidates=[agent("a")], totals=[-3.0]) == 0
    with pytest.raises(ValueError, match="totals"):
        best_score.router_select_agent(candidates=[agent("a")], totals=[1.0, 2.0])


@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([1.0, 2.0, 3.0])),
        min_size=1,
        max_size=10,
    ),
    st.randoms(use_true_random=False),
)
def test_best_score_does_not_depend_on_candidate_order(
    rows: list[tuple[float, float]], rnd: random.Random
) -> None:
    pool = [(agent(f"a{i}", idle_since=idle), total) for i, (total, idle) in enumerate(rows)]
    expected = min(pool, key=lambda p: (-p[1], p[0].idle_since, p[0].id))[0].id
    rnd.shuffle(pool)
    candidates = [p[0] for p in pool]
    index = best_score.router_select_agent(candidates=candidates, totals=[p[1] for p in pool])
    assert index is not None
    assert candidates[index].id == expected
