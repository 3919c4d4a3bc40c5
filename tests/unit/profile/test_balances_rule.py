from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from crm_profile.domain.balances import Position, apply_snapshots


def pos(day: int, aum: str) -> Position:
    return Position(aum=Decimal(aum), as_of=date(2026, 11, day))


def test_first_snapshot_becomes_latest_and_changes_assets():
    out = apply_snapshots(None, [pos(20, "1000.00")])
    assert out.latest == pos(20, "1000.00")
    assert out.aum_changed and out.previous is None


def test_older_snapshot_never_overwrites_newer_but_is_kept_in_history():
    out = apply_snapshots(pos(20, "500000.00"), [pos(19, "1.00")])
    assert out.latest is None
    assert not out.aum_changed
    assert out.history == [pos(19, "1.00")]


def test_same_day_restatement_replaces_latest():
    out = apply_snapshots(pos(20, "500000.00"), [pos(20, "499999.99")])
    assert out.latest == pos(20, "499999.99") and out.aum_changed


def test_same_values_again_change_nothing():
    out = apply_snapshots(pos(20, "10.00"), [pos(20, "10.00")])
    assert out.latest is None and not out.aum_changed


def test_newer_day_same_amount_moves_date_without_asset_change():
    out = apply_snapshots(pos(20, "10.00"), [pos(21, "10.00")])
    assert out.latest == pos(21, "10.00") and not out.aum_changed


def test_out_of_order_batch_keeps_newest():
    out = apply_snapshots(None, [pos(22, "3.00"), pos(20, "1.00"), pos(21, "2.00")])
    assert out.latest == pos(22, "3.00")
    assert [h.as_of.day for h in out.history] == [20, 21, 22]


@given(st.permutations(list(range(1, 11))))
def test_any_arrival_order_ends_on_the_newest_day(days):
    out = apply_snapshots(None, [pos(d, f"{d}.00") for d in days])
    assert out.latest == pos(10, "10.00")
