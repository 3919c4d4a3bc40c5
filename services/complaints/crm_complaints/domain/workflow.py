"""The standard process (投诉处理流程标准化, BRIEF §5.2): which step may follow which.

received → acknowledged → assigned → investigating → resolved → closed (the customer confirmed, or did not
answer in time). A case may be escalated from any open step and comes back to the handler from there (to be
acknowledged, if it was escalated before anyone did); a resolved or closed case may be reopened. Anything else is
refused, naming the current state.
"""

from __future__ import annotations

from crm_kit.errors import RuleBroken

OPEN_STATES = frozenset({"received", "acknowledged", "assigned", "investigating", "escalated", "reopened"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"acknowledged", "escalated"}),
    "acknowledged": frozenset({"assigned", "escalated"}),
    "assigned": frozenset({"investigating", "escalated"}),
    "investigating": frozenset({"resolved", "escalated"}),
    "escalated": frozenset({"acknowledged", "assigned", "investigating", "resolved"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"assigned", "investigating", "escalated"}),
}


class IllegalTransition(RuleBroken):
    """A step the standard process does not allow from the current state (409, naming the state)."""

    def __init__(self, current: str, wanted: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "nothing"
        super().__init__(
            f"a complaint that is {current} cannot become {wanted}; from {current} it may become {allowed}",
            kind="conflict",
            state=current,
        )
        self.current, self.wanted = current, wanted


def check(current: str, wanted: str) -> None:
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, wanted)
