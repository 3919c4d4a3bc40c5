"""The fault suite: `make faults` (CRM_FAULTS=full) runs every fault on a few thousand customers; plain `pytest`
(so `make test`) runs one fault of each kind on a small workload. Each fault run is compared with one fault-free
run of the same workload (the oracle); the table of every run is printed at the end of the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import FULL, ROWS, table

TABLE_FILE = Path(os.environ.get("CRM_FAULTS_TABLE", "build/faults-table.md"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not ROWS:
        return
    text = table()
    terminalreporter.write_sep("=", f"fault table ({'full' if FULL else 'reduced'} run)")
    terminalreporter.write_line(text)
    try:
        TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
        TABLE_FILE.write_text(text + "\n")
        terminalreporter.write_line(f"(written to {TABLE_FILE})")
    except OSError:
        pass
