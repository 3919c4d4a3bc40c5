"""Test harness: a Kafka broker and a MongoDB replica set for the whole session, per-test isolation.

Where the stack comes from (fixture `stack`, first match wins):
1. KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI both set: use them (kind "env"); KAFKA_IDEMPOTENT_PRODUCER
   (default true) says whether the broker supports the idempotent producer.
2. A Docker engine answers `docker info` within 5 s: testcontainers Kafka (Apache Kafka, Confluent
   image in KRaft mode) and MongoDB started as a single-node replica set (kind "testcontainers").
3. Otherwise: the embedded stack from crm_cli.stack, Tansu and SecantusDB on free ports (kind
   "embedded"; Tansu has no idempotent producer).
CRM_TEST_STACK=env|testcontainers|embedded forces a choice.

Per test: `secrets` (fresh keys), `service_env` (unique topic prefix and database), `token_for`.
Tests under tests/unit, tests/integration and tests/e2e get the matching marker automatically.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import secrets as pysecrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TRUE_VALUES = ("1", "true", "yes", "on")


@dataclass
class Stack:
    kafka_bootstrap: str
    mongodb_uri: str
    kind: str  # "env" | "testcontainers" | "embedded"
    idempotent_producer: bool
    _stop: list[Callable[[], Any]] = field(default_factory=list, repr=False)

    def on_close(self, stop: Callable[[], Any]) -> None:
        """Run `stop` when the stack closes (last added, first run)."""
        self._stop.append(stop)

    def close(self) -> None:
        while self._stop:
            stop = self._stop.pop()
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"stack teardown: {exc!r}")


# ---------------------------------------------------------------------------------------------
# markers by directory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        try:
            first = Path(str(item.path)).relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        if first in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, first))


# ---------------------------------------------------------------------------------------------
# watchdog: a test that outlives its own timeout (pytest-timeout fires once; a teardown stuck after that would
# hang the run until CI kills it, silently) prints every thread's stack and stops the run.

WATCHDOG_GRACE_SECONDS = float(os.environ.get("CRM_TEST_WATCHDOG_GRACE_SECONDS", "300"))


def _item_timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _abort_run(item: pytest.Item, limit: float) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with contextlib.suppress(Exception):
            capture.suspend_global_capture(in_=True)
    print(
        f"\n\nWATCHDOG: {item.nodeid} still running {limit:.0f} s after it started; every thread's stack follows, "
        "then the run stops.",
        file=sys.stderr,
        flush=True,
    )
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    with contextlib.suppress(Exception):
        from crm_cli.stack import stop_leftovers

        stop_leftovers(grace=2.0)
    sys.stderr.flush()
    os._exit(3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timeout = _item_timeout(item)
    if timeout <= 0:
        yield
        return
    limit = timeout + WATCHDOG_GRACE_SECONDS
    timer = threading.Timer(limit, _abort_run, args=(item, limit))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


# ---------------------------------------------------------------------------------------------
# the stack


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _env_stack() -> Stack:
    return Stack(
        kafka_bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        mongodb_uri=os.environ["MONGODB_URI"],
        kind="env",
        idempotent_producer=os.environ.get("KAFKA_IDEMPOTENT_PRODUCER", "true").strip().lower() in TRUE_VALUES,
    )


def _testcontainers_stack() -> Stack:
    from pymongo import MongoClient

    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mongodb import MongoDbContainer
    except ImportError:  # testcontainers before the `community` layout
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

    class ReplicaSetMongo(MongoDbContainer):  # type: ignore[misc, valid-type]
        """No root user: MONGO_INITDB_ROOT_* turns on auth, which a replica set refuses without a keyfile."""

        def _configure(self) -> None:
            pass

    stack = Stack("", "", "testcontainers", idempotent_producer=True)
    try:
        kafka = KafkaContainer(os.environ.get("CRM_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")).with_kraft()
        kafka.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
        kafka.start(timeout=180)
        stack.on_close(kafka.stop)
        stack.kafka_bootstrap = kafka.get_bootstrap_server()

        # MongoDB as a single-node replica set so that transactions work.
        mongo = ReplicaSetMongo(os.environ.get("CRM_TEST_MONGO_IMAGE", "mongo:7.0"))
        mongo.with_command("--replSet rs0 --bind_ip_all")
        mongo.start()
        stack.on_close(mongo.stop)
        host, port = mongo.get_container_host_ip(), int(mongo.get_exposed_port(27017))
        stack.mongodb_uri = f"mongodb://{host}:{port}/?directConnection=true"

        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, serverSelectionTimeoutMS=30_000)
        try:
            client.admin.command("replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]})
            deadline = time.monotonic() + 60
            while not client.admin.command("hello").get("isWritablePrimary"):
                if time.monotonic() > deadline:
                    raise RuntimeError("MongoDB replica set did not elect a primary within 60s")
                time.sleep(0.2)
        finally:
            client.close()
    except BaseException:
        stack.close()
        raise
    return stack


def _embedded_stack(workdir: Path) -> Stack:
    from crm_cli.stack import EmbeddedKafka, EmbeddedMongo, free_port

    stack = Stack("", "", "embedded", idempotent_producer=False)
    try:
        kafka = EmbeddedKafka("127.0.0.1", free_port(), log_path=workdir / "kafka.log")
        kafka.start()
        stack.on_close(kafka.stop)
        mongo = EmbeddedMongo(
            "127.0.0.1", free_port(), workdir / "mongo-data", test_commands=True, log_path=workdir / "mongodb.log"
        )
        mongo.start()
        stack.on_close(mongo.stop)
    except BaseException:
        stack.close()
        raise
    stack.kafka_bootstrap = kafka.bootstrap
    stack.mongodb_uri = mongo.uri
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kafka + MongoDB for the session: from the environment, testcontainers or embedded."""
    forced = os.environ.get("CRM_TEST_STACK", "").strip().lower()
    if forced not in ("", "env", "testcontainers", "embedded"):
        raise pytest.UsageError("CRM_TEST_STACK must be env, testcontainers or embedded")
    have_env = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("MONGODB_URI"))
    if forced == "env" or (not forced and have_env):
        if not have_env:
            raise pytest.UsageError("CRM_TEST_STACK=env needs KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI")
        s = _env_stack()
    elif forced == "testcontainers" or (not forced and _docker_available()):
        s = _testcontainers_stack()
    else:
        s = _embedded_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield s
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# per-test isolation


def new_secrets() -> dict[str, str]:
    from crm_kit.crypto import new_key_b64

    return {
        "CRM_JWT_SECRET": pysecrets.token_urlsafe(48),
        "CRM_DATA_KEY": new_key_b64(),
        "CRM_LOOKUP_KEY": new_key_b64(),
    }


@pytest.fixture
def secrets() -> dict[str, str]:
    """Fresh CRM_JWT_SECRET, CRM_DATA_KEY and CRM_LOOKUP_KEY for one test."""
    return new_secrets()


def make_env(stack: Stack, secrets: dict[str, str], **overrides: Any) -> dict[str, str]:
    """Environment for a service under test: the session stack, a unique topic prefix and database.

    Overrides are upper-cased variable names (or already upper-case); a value of None removes the
    variable. Everything is a string, ready for a subprocess env or for `support.settings_kwargs`.
    """
    tag = uuid.uuid4().hex[:8]
    env: dict[str, str] = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "KAFKA_IDEMPOTENT_PRODUCER": "true" if stack.idempotent_producer else "false",
        "KAFKA_TOPIC_PREFIX": f"t{tag}.",
        "KAFKA_TOPIC_PARTITIONS": "2",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "MONGODB_URI": stack.mongodb_uri,
        "MONGODB_DATABASE": f"test_{tag}",
        "LOG_FORMAT": "json",
        "OUTBOX_POLL_SECONDS": "0.05",
        **secrets,
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key.upper(), None)
        else:
            env[key.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _drop_database(uri: str, name: str) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        client.drop_database(name)
    except Exception:  # noqa: BLE001 - best effort clean-up
        pass
    finally:
        client.close()


@pytest.fixture
def make_service_env(stack: Stack, secrets: dict[str, str]) -> Iterator[Callable[..., dict[str, str]]]:
    """`make_env` bound to this session's stack and this test's secrets; each call is a fresh prefix/database."""
    made: list[dict[str, str]] = []

    def factory(**overrides: Any) -> dict[str, str]:
        env = make_env(stack, secrets, **overrides)
        made.append(env)
        return env

    yield factory
    for env in made:
        if env.get("MONGODB_DATABASE", "").startswith("test_"):
            _drop_database(env.get("MONGODB_URI", stack.mongodb_uri), env["MONGODB_DATABASE"])


@pytest.fixture
def service_env(make_service_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    """The environment dict for this test's service(s): see `make_env`."""
    return make_service_env()


@pytest.fixture
def token_for(secrets: dict[str, str]) -> Callable[..., str]:
    """token_for(role, staff_id, branch) -> "Bearer …", signed with this test's CRM_JWT_SECRET."""
    from crm_kit.auth import issue_token

    def make(role: str, staff_id: str = "S0001", branch: str | None = "BR001", *, ttl_seconds: int = 3600) -> str:
        token = issue_token(
            secret=secrets["CRM_JWT_SECRET"], staff_id=staff_id, role=role, branch=branch, ttl_seconds=ttl_seconds
        )
        return f"Bearer {token}"

    return make


@pytest.fixture
def people():
    """A deterministic supply of valid demo customers."""
    import random

    from crm_cli.demo_data import make_corporate, make_faker, make_individual

    rng, faker = random.Random(7), make_faker(7)

    def individual(branch="BR001", owner="S-RM1", **over):
        return {**make_individual(rng, faker, {"code": branch, "name": branch}, owner), **over}

    def corporate(branch="BR001", owner="S-RM1", **over):
        return {**make_corporate(rng, faker, {"code": branch, "name": branch}, owner), **over}

    individual.corporate = corporate
    return individual


@pytest.fixture
def rm(token_for):
    return {"Authorization": token_for("relationship_manager", "S-RM1", "BR001")}
