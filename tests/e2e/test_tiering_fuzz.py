"""The tiering service as ops run it, fuzzed from its OpenAPI document: bad input is a 4xx, never a 5xx."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from crm_cli.stack import ServiceProcess, free_port

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("role,staff_id,branch", [("admin", "S-ADMIN", None), ("branch_manager", "S-BM1", "BR001")])
async def test_fuzzed_requests_never_get_a_server_error(service_env, tmp_path, token_for, role, staff_id, branch):
    env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_tiering", "LOG_FORMAT": "json"}
    log = tmp_path / "tiering.log"
    proc = ServiceProcess("tiering", "crm_tiering.main:create_app", "TIERING_PORT", free_port(), env, log_path=log)
    await asyncio.to_thread(proc.start)
    try:
        st = Path(sys.executable).parent / "st"
        result = await asyncio.to_thread(
            subprocess.run,
            [str(st), "run", f"{proc.base_url}/openapi.json", "-H", f"Authorization: {token_for(role, staff_id, branch)}",
             "--checks", "not_a_server_error", "--max-examples", "20", "--phases", "examples,fuzzing", "--seed", "2026",
             "--request-timeout", "10"],
            capture_output=True, text=True, timeout=300,
        )
    finally:
        await asyncio.to_thread(proc.stop)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    text = log.read_text()
    assert '"status": 500' not in text and "Traceback" not in text
