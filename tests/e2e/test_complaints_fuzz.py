"""The complaints service as ops run it, fuzzed from its OpenAPI document: bad input is a 4xx, never a 5xx."""

import asyncio

import pytest

from crm_cli.stack import ServiceProcess, free_port
from support import fuzz_without_server_errors

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("role,staff_id,branch", [("admin", "S-ADMIN", None), ("complaint_handler", "S-CH1", "BR001")])
async def test_fuzzed_requests_never_get_a_server_error(service_env, tmp_path, token_for, role, staff_id, branch):
    env = {**service_env, "LOG_FORMAT": "json", "CLOCK_DATE": "2026-12-01"}
    log = tmp_path / "complaints.log"
    proc = ServiceProcess(
        "complaints", "crm_complaints.main:create_app", "COMPLAINTS_PORT", free_port(), env, log_path=log
    )
    await asyncio.to_thread(proc.start)
    await fuzz_without_server_errors(proc, log, token_for(role, staff_id, branch), max_examples=20)
