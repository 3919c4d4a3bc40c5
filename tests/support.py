"""Test support: run a service in-process against the real broker and database, read topics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from asgi_lifespan import LifespanManager


def settings_kwargs(env: dict[str, str]) -> dict[str, Any]:
    """Environment variables as settings keyword arguments (field names are the lower-cased names)."""
    return {k.lower(): v for k, v in env.items() if not k.endswith("_PORT")}


@asynccontextmanager
async def running(app: Any):
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool] = lambda _m: False,
    timeout: float = 15.0,
    settle: float = 0.0,
) -> list[Any]:
    """Every record on `topic` from the beginning, read without a consumer group, until `until(records)`
    holds or `timeout` passes (then whatever was read is returned). With `settle`, reading goes on that
    many seconds after `until` holds, so a test that asserts something is absent sees late arrivals too."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = None
        deadline = time.monotonic() + timeout
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be brand new
                partitions = consumer.partitions_for_topic(topic)
                if partitions is None:
                    await asyncio.sleep(0.2)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        settling_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                records.extend(msgs)
            if settling_until is None and until(records):
                if settle <= 0:
                    break
                settling_until = time.monotonic() + settle
            if settling_until is not None and time.monotonic() >= settling_until:
                break
        return records
    finally:
        await consumer.stop()


def events(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def of_type(records: list[Any], event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events(records) if e["type"] == event_type and (subject is None or e["subject"] == subject)]


async def produce(bootstrap: str, topic: str, values: list[bytes | str | dict[str, Any]], key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for v in values:
            raw = v if isinstance(v, bytes) else (v.encode() if isinstance(v, str) else json.dumps(v).encode())
            await producer.send_and_wait(topic, raw, key=key)
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def fuzz_without_server_errors(proc: Any, log: Any, authorization: str, *, max_examples: int) -> None:
    """Run schemathesis against a running service process's OpenAPI document, then stop the process: bad input
    must be a 4xx, never a 5xx, and nothing may reach the service's log as a server error or a traceback."""
    import subprocess
    import sys
    from pathlib import Path

    try:
        st = Path(sys.executable).parent / "st"
        result = await asyncio.to_thread(
            subprocess.run,
            [
                str(st),
                "run",
                f"{proc.base_url}/openapi.json",
                "-H",
                f"Authorization: {authorization}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(max_examples),
                "--phases",
                "examples,fuzzing",
                "--seed",
                "2026",
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        await asyncio.to_thread(proc.stop)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    text = log.read_text()
    assert '"status": 500' not in text and "Traceback" not in text
