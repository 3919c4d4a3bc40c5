"""A catch-up feed and events that arrive late: the rules give what the days one a night would have given."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, CustomerRegistered, CustomerUpdated
from crm_contracts.tiering import ChurnRiskRaised, TierChanged
from crm_kit.messaging import Incoming
from crm_tiering.domain.customer import TieredCustomer, WatchEntry
from crm_tiering.domain.policy import DEFAULT_POLICY
from crm_tiering.service.profile_events import _by_day

D0 = date(2026, 5, 1)
GRACE_3 = DEFAULT_POLICY.model_copy(update={"downgrade_grace_days": 3})


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def customer(**kw) -> TieredCustomer:
    return TieredCustomer(customer_id="C1", branch="B1", owner="S1", registered_on=day(-400), **kw)


def see(c: TieredCustomer, n: int, aum: str, policy=GRACE_3) -> None:
    c.observe_balance(as_of=day(n), aum=Decimal(aum), breakdown={}, policy=policy, version=1)


def nightly(c: TieredCustomer, days: dict[int, str], last: int, policy=GRACE_3) -> None:
    """The oracle: a snapshot on the days that have one, and the sweep every night on the others."""
    for n in range(last + 1):
        if n in days:
            see(c, n, days[n], policy)
        elif c.due_on is not None and c.due_on <= day(n):
            c.evaluate(on=day(n), policy=policy, version=1)


def caught_up(c: TieredCustomer, days: dict[int, str], policy=GRACE_3) -> None:
    """The same days with no sweep in between: each snapshot first catches up what came due before it."""
    for n in sorted(days):
        while c.catch_up_step(before=day(n), policy=policy, version=1):
            pass
        see(c, n, days[n], policy)


def summary(c: TieredCustomer) -> list:
    return [(type(e).__name__, e.model_dump(exclude={"assigned_at"})) for e in c.events]


def test_a_grace_end_without_a_snapshot_of_its_own_is_applied_on_its_date_before_the_next_snapshot():
    c = customer()
    caught_up(c, {0: "600000.00", 1: "450000.00", 6: "440000.00"})
    assert [(e.to_tier, e.reason, e.as_of) for e in c.events if isinstance(e, TierChanged)] == [
        ("vip", "first_tier", day(0)),
        ("potential", "downgrade", day(4)),
    ]  # below from day 1, 3 days' grace


def test_nothing_due_before_the_snapshot_changes_nothing():
    c = customer()
    see(c, 0, "600000.00")
    assert not c.catch_up_step(before=day(1), policy=GRACE_3, version=1)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=20),
        st.sampled_from(["800.00", "40000.00", "150000.00", "450000.00", "600000.00", "3500000.00"]),
        min_size=1,
        max_size=12,
    )
)
def test_catching_up_gives_what_the_nightly_sweep_gives(days):
    days = {0: "600000.00", **days}
    oracle, batch = customer(), customer()
    nightly(oracle, days, last=max(days))
    caught_up(batch, days)
    assert summary(batch) == summary(oracle)
    assert (batch.tier, batch.below_since, batch.churn, batch.stage) == (
        oracle.tier,
        oracle.below_since,
        oracle.churn,
        oracle.stage,
    )


def test_every_days_significant_change_is_kept_for_the_watch_list():
    c = customer()
    for n, aum in ((0, "250000.00"), (1, "320000.00"), (2, "321000.00"), (3, "260000.00")):
        see(c, n, aum)
        c.close_day()
        if n == 1:
            c.owner, c.tier = "S2", "vip"  # a hand-over at the end of day 1 goes on later entries only
    assert [(w.as_of, w.previous, w.aum, w.owner) for w in c.watches] == [
        (day(1), Decimal("250000.00"), Decimal("320000.00"), "S1"),
        (day(3), Decimal("321000.00"), Decimal("260000.00"), "S2"),
    ]
    assert all(isinstance(w, WatchEntry) and w.closed for w in c.watches)


# --- events that overtake the registration ----------------------------------------------------


def test_balances_before_the_registration_are_held_in_date_order_and_restated_per_day():
    c = TieredCustomer(customer_id="C-NEW")
    assert not c.registered
    c.hold_balance(as_of=day(2), aum=Decimal("2.00"), breakdown={}, seq=3)
    c.hold_balance(as_of=day(1), aum=Decimal("1.00"), breakdown={}, seq=2)
    c.hold_balance(as_of=day(2), aum=Decimal("2.50"), breakdown={}, seq=4)  # a restatement
    c.hold_balance(as_of=day(2), aum=Decimal("2.00"), breakdown={}, seq=3)  # the older one redelivered
    assert [(h.as_of, h.aum, h.seq) for h in c.held_balances] == [
        (day(1), Decimal("1.00"), 2),
        (day(2), Decimal("2.50"), 4),
    ]
    assert c.events == [] and c.tier is None
    assert [h.as_of for h in c.take_held_balances()] == [day(1), day(2)] and c.held_balances == []


def test_a_complaint_before_the_registration_warns_once_registered_naming_branch_and_owner():
    c = TieredCustomer(customer_id="C-NEW")
    c.complaint_opened("K1", on=day(3), policy=DEFAULT_POLICY)
    assert c.events == [] and c.open_complaints == ["K1"] and c.held_on == day(3)
    c.branch, c.owner, c.registered_on = "B1", "S1", day(4)
    c.registration_arrived(policy=DEFAULT_POLICY)
    [raised] = [e for e in c.events if isinstance(e, ChurnRiskRaised)]
    assert (raised.branch, raised.owner, raised.as_of, [r.rule for r in raised.reasons]) == (
        "B1",
        "S1",
        day(3),
        ["complaint"],
    )
    assert c.held_on is None


# --- the batch as the nights it covers ---------------------------------------------------------


def _item(data, subject: str, offset: int) -> Incoming:
    event = CloudEvent.wrap(data, source="crm/profile", subject=subject)
    return Incoming("t", 0, offset, subject, b"", str(event.id), event)


def _assets(cid: str, n: int, offset: int) -> Incoming:
    return _item(AssetsChanged(customer_id=cid, core_customer_no=f"C{cid}", as_of=day(n), aum=Decimal(n)), cid, offset)


def test_a_batch_is_applied_day_by_day_across_customers_keeping_each_customers_order():
    registered = _item(
        CustomerRegistered(
            customer_id="B",
            kind="individual",
            branch="B1",
            owner="S1",
            registered_at=datetime(2026, 5, 1, tzinfo=UTC),
            registered_by="S1",
            channel="service_process",
        ),
        "B",
        0,
    )
    updated = _item(
        CustomerUpdated(
            customer_id="A",
            version=2,
            changed_fields=["income"],
            channel="service_process",
            changed_by="S1",
            changed_at=datetime(2026, 5, 3, tzinfo=UTC),
        ),
        "A",
        4,
    )
    batch = [
        _assets("A", 1, 1),
        _assets("A", 2, 2),
        _assets("A", 3, 3),
        updated,
        registered,
        _assets("B", 1, 5),
        _assets("B", 3, 6),
    ]
    nights = _by_day(batch)
    assert [[(i.payload.subject, i.offset) for i in night] for night in nights] == [
        [("B", 0)],  # B's registration comes before its first balance
        [("A", 1), ("B", 5)],
        [("A", 2)],
        [("A", 3), ("A", 4), ("B", 6)],  # A's update stays after A's day 3
    ]
