"""Which handler of the roster a case goes to when nobody names one: among the branch's active handlers who take
the case's category (or every category), the one of the highest stable rank for the case (rendezvous hashing,
crm_kit.rendezvous: sha256 of the complaint id and the staff id). Not the one with the fewest open cases at that
moment: that depends on the order cases were taken in, routed and closed (a consumer's batches, two replicas'
requests), so two runs of the same cases would hand them out differently and nobody could say afterwards why a
case went to whom. Rank spreads cases evenly in expectation; a handler joining takes none from others (a handled
case stays), one leaving passes each of their cases to its next in rank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crm_kit.rendezvous import highest


def takes(categories: Sequence[str] | None, category: str) -> bool:
    """No categories: every category."""
    return not categories or category in categories


def choose_handler(roster: Mapping[str, Sequence[str] | None], *, complaint_id: str, category: str) -> str | None:
    """`roster`: the branch's active handlers, staff id -> the categories they take. None when nobody fits."""
    return highest(complaint_id, sorted(h for h, categories in roster.items() if takes(categories, category)))
