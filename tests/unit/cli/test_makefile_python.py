"""`make` on a machine whose Python is too old stops with a message naming what it found and what to do, before it
creates anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def _python_printing(tmp_path: Path, version: str) -> Path:
    fake = tmp_path / "python3"
    fake.write_text(f'#!/bin/sh\n[ "$1" = "--version" ] && {{ echo "Python {version}"; exit 0; }}\nexit 1\n')
    fake.chmod(0o755)
    return fake


def test_an_old_python_stops_make_with_a_clear_message(tmp_path):
    fake = _python_printing(tmp_path, "3.9.2")
    venv = tmp_path / ".venv"
    done = subprocess.run(
        ["make", "-C", str(REPO), "venv", f"PYTHON={fake}", f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs Python 3.11 or newer; found Python 3.9.2" in done.stderr, done.stderr
    assert "make PYTHON=/path/to/python3.11" in done.stderr
    assert not venv.exists()


def test_a_python_that_is_not_there_is_named(tmp_path):
    missing = tmp_path / "python3.11"
    done = subprocess.run(
        ["make", "-C", str(REPO), "venv", f"PYTHON={missing}", f"VENV={tmp_path / '.venv'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stderr and str(missing) in done.stderr, done.stderr
