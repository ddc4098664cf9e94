"""The contact id filter: never a false "not there", and rarely a false "maybe"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.store.idfilter import IdFilter


@given(st.lists(st.text(min_size=1, max_size=200), max_size=300))
def test_every_id_added_may_be_there(ids: list[str]) -> None:
    ids_filter = IdFilter()
    for contact_id in ids:
        ids_filter.add(contact_id)
    assert all(ids_filter.may_contain(contact_id) for contact_id in ids)


def test_false_positives_stay_rare_at_the_design_load() -> None:
    ids_filter = IdFilter(expected_ids=200_000)
    for n in range(200_000):
        ids_filter.add(f"stored-{n}")
    false = sum(ids_filter.may_contain(f"new-{n}") for n in range(100_000))
    # 32 bits an id at most, four probes in one block: about 1 in 4,000 at its design,
    # far fewer here
    assert false < 100


def test_the_filter_grows_with_the_ids_it_is_built_from() -> None:
    assert len(IdFilter(expected_ids=10_000_000)._bits) > len(IdFilter()._bits)
