"""A background job's work list: read once per run, handed out in id order, resumed after the persisted cursor."""

from __future__ import annotations

from crm_kit.work_lists import WorkLists


async def test_a_run_reads_its_list_once_and_hands_it_out_in_order():
    reads = []

    async def fetch():
        reads.append(1)
        return ["c", "a", "e", "b", "d"]

    lists = WorkLists()
    first = await lists.next_chunk("sweep:2026-12-01", size=2, fetch=fetch)
    assert first == ["a", "b"] and not lists.is_last("sweep:2026-12-01", first)
    lists.advance("sweep:2026-12-01", first[-1])
    second = await lists.next_chunk("sweep:2026-12-01", size=2, fetch=fetch)
    lists.advance("sweep:2026-12-01", second[-1])
    third = await lists.next_chunk("sweep:2026-12-01", size=2, fetch=fetch)
    assert (second, third) == (["c", "d"], ["e"]) and lists.is_last("sweep:2026-12-01", third)
    lists.advance("sweep:2026-12-01", third[-1])
    assert await lists.next_chunk("sweep:2026-12-01", size=2, fetch=fetch) == []
    assert len(reads) == 1  # one read per run, not one range query per chunk


async def test_a_chunk_not_committed_is_handed_out_again():
    async def fetch():
        return ["a", "b", "c"]

    lists = WorkLists()
    assert await lists.next_chunk("job:1", size=2, fetch=fetch) == ["a", "b"]
    assert await lists.next_chunk("job:1", size=2, fetch=fetch) == ["a", "b"]  # the transaction failed: again


async def test_the_persisted_cursor_wins_after_a_takeover_and_a_new_run_replaces_the_old_list():
    runs = {"job:1": ["a", "b", "c", "d"], "job:2": ["x", "y"]}
    lists = WorkLists()
    assert await lists.next_chunk("job:1", size=1, fetch=lambda: _value(runs["job:1"])) == ["a"]
    # Another replica did a..c meanwhile and persisted its cursor.
    assert await lists.next_chunk("job:1", size=2, fetch=lambda: _value([]), after="c") == ["d"]
    assert await lists.next_chunk("job:2", size=5, fetch=lambda: _value(runs["job:2"])) == ["x", "y"]
    assert "job:1" not in lists._lists  # noqa: SLF001 - the old run's list is dropped, not kept for ever


async def _value(ids):
    return ids
