from crm_kit.outbox import publish_order


def row(key, seq, key_seq=None):
    return {"key": key, "seq": seq, "key_seq": key_seq, "_id": f"{key}{key_seq}-{seq}"}


def test_each_customer_keeps_its_own_order_whatever_the_writers_clocks():
    # Two replicas wrote C1's events 1 and 2 with their seq inverted; C2 is untouched.
    rows = [row("C1", 10, 2), row("C2", 11, 1), row("C1", 12, 1), row("C2", 13, 2)]
    order = [(r["key"], r["key_seq"]) for r in publish_order(rows)]
    assert order == [("C1", 1), ("C2", 1), ("C1", 2), ("C2", 2)]


def test_rows_without_key_seq_keep_seq_order():
    rows = [row("k", 3), row("k", 1), row("k", 2)]
    assert [r["seq"] for r in publish_order(rows)] == [1, 2, 3]
