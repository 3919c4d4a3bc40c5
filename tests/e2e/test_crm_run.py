"""`crm run` (what `make run` calls): a taken port stops it at once, naming the variable to change. Every other
address is a free port, so the tests pass while a `make run` stack holds the defaults."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crm_cli.stack import SERVICES, free_port

pytestmark = pytest.mark.e2e


def _free_addresses() -> dict[str, str]:
    """Every address `crm run` takes, on a port free now (not the defaults a running stack may hold)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        **{spec.port_var: str(free_port()) for spec in SERVICES},
    }


@pytest.mark.parametrize("variable", ["PROFILE_PORT", "KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"])
def test_taken_port_fails_at_once_naming_the_variable(variable, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        value = {
            "PROFILE_PORT": str(port),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "MONGODB_URI": f"mongodb://127.0.0.1:{port}/?directConnection=true",
        }[variable]
        crm = Path(sys.executable).parent / "crm"
        result = subprocess.run(
            [str(crm), "run"],
            env={
                "PATH": "/usr/bin:/bin",
                **_free_addresses(),
                variable: value,
                "CRM_DEV_DIR": str(tmp_path),
                "SEED": "0",
            },
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    assert variable in result.stderr + result.stdout
    assert str(port) in result.stderr + result.stdout


def test_token_outside_the_repository_refuses_to_invent_secrets(tmp_path):
    crm = Path(sys.executable).parent / "crm"
    result = subprocess.run(
        [str(crm), "token", "--role", "admin", "--staff-id", "S1"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "no dev secrets" in result.stderr
    assert not (tmp_path / ".dev").exists()
    made = subprocess.run(
        [str(crm), "token", "--role", "admin", "--staff-id", "S1"],
        env={"PATH": "/usr/bin:/bin", "CRM_JWT_SECRET": "s" * 32, "CRM_DATA_KEY": "k", "CRM_LOOKUP_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert made.returncode == 0 and made.stdout.count(".") == 2  # a JWT
