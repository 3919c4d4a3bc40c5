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


# --- a catch-up feed: several days of one customer in one batch --------------------------------


def day_by_day(current, snapshots):
    """The oracle: the same snapshots applied one batch each, in arrival order."""
    changes = []
    for snap in snapshots:
        out = apply_snapshots(current, [snap])
        changes += out.changes
        current = out.latest or current
    return current, changes


def test_a_week_in_one_batch_is_a_change_per_day_with_the_day_before_as_previous():
    week = [pos(20, "100.00"), pos(21, "150.00"), pos(22, "150.00"), pos(23, "90.00"), pos(24, "100.00")]
    out = apply_snapshots(pos(19, "100.00"), week)
    assert out.changes == [
        (pos(20, "100.00"), pos(21, "150.00")),  # day 20 held the amount: no change of its own
        (pos(22, "150.00"), pos(23, "90.00")),  # the unchanged day 22 is the previous of day 23
        (pos(23, "90.00"), pos(24, "100.00")),
    ]
    assert out.latest == pos(24, "100.00") and out.aum_changed


def test_a_week_back_where_it_started_still_changed_every_day():
    # Day by day this published two changes; only comparing first and last would publish none.
    out = apply_snapshots(pos(19, "100.00"), [pos(20, "500.00"), pos(21, "100.00")])
    assert [(p.aum, n.aum) for p, n in out.changes] == [
        (Decimal("100.00"), Decimal("500.00")),
        (Decimal("500.00"), Decimal("100.00")),
    ]
    assert out.aum_changed


def test_days_before_the_latest_fill_the_history_but_change_nothing():
    out = apply_snapshots(pos(20, "100.00"), [pos(18, "1.00"), pos(19, "2.00"), pos(21, "3.00")])
    assert out.changes == [(pos(20, "100.00"), pos(21, "3.00"))]
    assert [h.as_of.day for h in out.history] == [18, 19, 21]


snapshot = st.builds(pos, st.integers(min_value=1, max_value=12), st.sampled_from(["1.00", "2.00", "3.00"]))


@given(
    st.lists(snapshot, min_size=1, max_size=12).map(lambda xs: sorted(xs, key=lambda p: p.as_of)),
    st.one_of(st.none(), st.builds(pos, st.just(1), st.sampled_from(["1.00", "2.00"]))),
)
def test_a_batch_of_days_in_date_order_publishes_what_the_daily_feed_publishes(days, current):
    # One snapshot a day, as core banking sends a catch-up: the batch's changes are the daily feed's.
    days = list({p.as_of: p for p in days}.values())
    latest, changes = day_by_day(current, days)
    out = apply_snapshots(current, days)
    assert out.changes == changes
    assert (out.latest or current) == latest
