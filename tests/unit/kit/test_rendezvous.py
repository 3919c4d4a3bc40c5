"""Rendezvous hashing: the same key and members give the same choice, whatever order the members come in."""

from hashlib import sha256

from crm_kit.rendezvous import highest, rank


def test_the_rank_is_sha256_of_key_and_member():
    # Written out so that an audit (or another language) can recompute a choice from the events alone.
    assert rank("CUST-1", "RM-2") == int(sha256(b"CUST-1\x00RM-2").hexdigest(), 16)


def test_the_rank_keeps_key_and_member_apart():
    assert rank("C1", "23") != rank("C12", "3")


def test_the_highest_rank_wins_in_any_order():
    members = [f"S{i}" for i in range(7)]
    for key in (f"K{i}" for i in range(100)):
        best = highest(key, members)
        assert best == max(members, key=lambda m: rank(key, m))
        assert highest(key, reversed(members)) == best
        assert highest(key, iter(sorted(members, key=hash))) == best


def test_nobody_gives_none():
    assert highest("K", []) is None
