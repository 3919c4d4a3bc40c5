"""`crm`: the developer command line of the bank CRM.

crm run                      the whole stack on this machine (embedded Kafka + MongoDB + services)
crm token --role R --staff-id S [--branch B] [--ttl 8h]
crm seed [--count 200] [--api URL] [--tiering-api URL] [--engagement-api URL] [--complaints-api URL]
crm import FILE [--api URL] [--staff-id S] [--role R] [--branch B] [--errors PATH]
crm calendar load FILE [--check] [--engagement-api URL] [--complaints-api URL] [--token T]
crm dlt list [--topic T]    crm dlt show TOPIC:PARTITION:OFFSET [--raw]
crm dlt replay [TOPIC:PARTITION:OFFSET …] [--topic T --reason TEXT] --by S --why TEXT
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crm_kit.auth import Role

app = typer.Typer(
    name="crm",
    help="Bank CRM developer tools: run the stack locally, issue tokens, seed and import customers.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_MONGODB_URI = "mongodb://127.0.0.1:27017/?directConnection=true"
DEFAULT_API = "http://127.0.0.1:8001"
DEFAULT_TIERING_API = "http://127.0.0.1:8002"
DEFAULT_ENGAGEMENT_API = "http://127.0.0.1:8003"
DEFAULT_COMPLAINTS_API = "http://127.0.0.1:8004"
TOKEN_HINT = "crm token --role relationship_manager --staff-id S0006 --branch BR001"

console = Console(stderr=True)


# --------------------------------------------------------------------------------------------
# helpers


def dev_dir() -> Path:
    """Where `crm run` keeps its state (secrets, MongoDB data, logs); git-ignored. The same folder from any
    working directory ($CRM_DEV_DIR, else the `.dev` of the stack or repository above): see
    crm_cli.devenv.dev_dir, which crm_cli.seed and crm_cli.importer use too."""
    from crm_cli.devenv import dev_dir as _dev_dir

    return _dev_dir()


def _split_host_port(address: str, default_port: int) -> tuple[str, int]:
    address = address.strip()
    if address.startswith("["):  # [ipv6]:port
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host or "127.0.0.1", int(port) if port else default_port
    return address or "127.0.0.1", default_port


def parse_kafka_address(bootstrap: str) -> tuple[str, int]:
    """host and port of the first broker in a KAFKA_BOOTSTRAP_SERVERS value."""
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    return _split_host_port(first, 9092)


def parse_mongo_address(uri: str) -> tuple[str, int]:
    """host and port of the first host in a MONGODB_URI value."""
    if uri.startswith("mongodb+srv://"):
        raise ValueError("a mongodb+srv:// URI cannot be served by the embedded database")
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    netloc = re.split(r"[/?]", rest, maxsplit=1)[0]
    netloc = netloc.rsplit("@", 1)[-1]
    return _split_host_port(netloc.split(",")[0], 27017)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str) -> int:
    """Seconds in '90', '90s', '30m', '8h', '1d' or '1w'."""
    match = _DURATION.match(value)
    if not match:
        raise typer.BadParameter(f"{value!r} is not a duration like 30m, 8h or 1d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise typer.BadParameter("the duration must be positive")
    return seconds


def _truthy(value: str | None, default: bool = True) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _load(module: str, attr: str, command: str) -> Any:
    """Import `module.attr` lazily; the module may not be written yet."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            console.print(f"[red]`crm {command}` is not available yet: {module} is missing.[/]")
            raise typer.Exit(1) from None
        raise
    try:
        return getattr(mod, attr)
    except AttributeError:
        console.print(f"[red]`crm {command}` is not available yet: {module}.{attr} is missing.[/]")
        raise typer.Exit(1) from None


def _resolve(result: Any) -> Any:
    """Run the result if it is awaitable (commands may be async)."""
    from crm_cli.devenv import NoDevSecrets

    try:
        if inspect.isawaitable(result):

            async def _await() -> Any:
                return await result

            return asyncio.run(_await())
        return result
    except NoDevSecrets as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


def _exit_with(result: Any) -> None:
    if isinstance(result, int) and not isinstance(result, bool) and result != 0:
        raise typer.Exit(result)


class _PrefixedOutput:
    """Line-atomic writes to the terminal, shared by the threads that relay service output."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            written: int = self._stream.write(text)
            return written

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


_COLOURS = ("36", "35", "33", "32", "34")


def _prefix(name: str, width: int, index: int) -> str:
    label = f"{name:<{width}} |"
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m "
    return f"{label} "


# --------------------------------------------------------------------------------------------
# crm run


@app.command()
def run() -> None:
    """Run the whole stack locally (embedded Kafka and MongoDB, every installed service) until Ctrl-C.

    Seeds demo data unless SEED=0. State lives in .dev/ (secrets, MongoDB data, logs).
    """
    from crm_cli.devenv import load_or_create_dev_secrets
    from crm_cli.stack import (
        SERVICES,
        EmbeddedKafka,
        EmbeddedMongo,
        ManagedProcess,
        ServiceProcess,
        StackError,
        available_services,
        free_port,
        port_in_use,
    )

    env = os.environ
    try:
        kafka_host, kafka_port = parse_kafka_address(env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_KAFKA)
        mongo_host, mongo_port = parse_mongo_address(env.get("MONGODB_URI") or DEFAULT_MONGODB_URI)
        host = env.get("HOST") or "127.0.0.1"
        services = available_services()
        service_ports = {spec.name: spec.port() for spec in services}
    except (ValueError, StackError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    skipped = [spec for spec in SERVICES if spec not in services]

    # Check every port before starting anything.
    plan: list[tuple[str, str, int]] = [
        ("KAFKA_BOOTSTRAP_SERVERS", kafka_host, kafka_port),
        ("MONGODB_URI", mongo_host, mongo_port),
        *[(spec.port_var, host, service_ports[spec.name]) for spec in services],
    ]
    seen: dict[int, str] = {}
    for var, _h, port in plan:
        if port in seen:
            console.print(f"[red]{seen[port]} and {var} both use port {port}: set {var} to a different port[/]")
            raise typer.Exit(1)
        seen[port] = var
    for var, h, port in plan:
        if port_in_use(h, port):
            if var == "KAFKA_BOOTSTRAP_SERVERS":
                hint = f"set {var} to a free address, e.g. {var}={kafka_host}:{free_port()}"
            elif var == "MONGODB_URI":
                hint = f"set {var} to a free address, e.g. {var}=mongodb://{mongo_host}:{free_port()}/?directConnection=true"
            else:
                hint = f"set {var} to a free port"
            console.print(f"[red]port {port} is already in use: {hint}[/]")
            raise typer.Exit(1)

    base = dev_dir()
    logs = base / "logs"
    data = base / "mongo-data"
    logs.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create_dev_secrets(base / "secrets.env")

    # Ctrl-C and SIGTERM both raise KeyboardInterrupt and unwind through `finally`. SIGINT is set
    # explicitly because a parent may have left it ignored (e.g. a background job of a script).
    def _terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    started: list[ManagedProcess] = []
    exit_code = 0
    out = _PrefixedOutput(sys.stdout)
    width = max([len(spec.name) for spec in services] or [1])
    try:
        kafka = EmbeddedKafka(kafka_host, kafka_port, log_path=logs / "kafka.log")
        console.print(f"starting Kafka (embedded Tansu) on {kafka.bootstrap} …")
        kafka.start()
        started.append(kafka)

        mongo = EmbeddedMongo(mongo_host, mongo_port, data, log_path=logs / "mongodb.log")
        console.print(f"starting MongoDB (embedded SecantusDB) on {mongo.uri}, data in {data} …")
        mongo.start()
        started.append(mongo)

        service_env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_IDEMPOTENT_PRODUCER": "false",  # Tansu has no idempotent producer
            "KAFKA_SESSION_TIMEOUT_MS": env.get("KAFKA_SESSION_TIMEOUT_MS") or "6000",  # faster joins on Tansu
            "MONGODB_URI": mongo.uri,
            "LOG_FORMAT": env.get("LOG_FORMAT") or "console",
            **secrets,
        }
        running: dict[str, ServiceProcess] = {}
        for index, spec in enumerate(services):
            proc = ServiceProcess(
                spec.name,
                spec.factory,
                spec.port_var,
                service_ports[spec.name],
                service_env,
                host=host,
                echo=out,
                prefix=_prefix(spec.name, width, index),
                log_path=logs / f"{spec.name}.log",
            )
            console.print(f"starting {spec.name} on {proc.base_url} …")
            proc.start()
            started.append(proc)
            running[spec.name] = proc

        if "profile" in running:
            _seed(
                running["profile"].base_url,
                secrets,
                tiering_url=running["tiering"].base_url if "tiering" in running else None,
                engagement_url=running["engagement"].base_url if "engagement" in running else None,
                complaints_url=running["complaints"].base_url if "complaints" in running else None,
            )
        else:
            console.print("[yellow]profile service not installed: no demo data seeded[/]")

        console.print(_summary(kafka, mongo, running, skipped, base, data, logs))
        console.print(f'Get a token:  [bold]{TOKEN_HINT}[/]  (send as "Authorization: Bearer <token>")')
        console.print("[bold]Press Ctrl-C to stop.[/]")

        while True:
            time.sleep(0.5)
            dead = [p for p in started if not p.is_running()]
            if dead:
                for p in dead:
                    console.print(f"[red]{p.name} exited unexpectedly (exit code {p.returncode})[/]")
                    tail = p.log_tail(20)
                    if tail and p.echo is None:
                        console.print(tail, markup=False, highlight=False)
                exit_code = 1
                break
    except KeyboardInterrupt:
        console.print("\nstopping …")
    except StackError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False, soft_wrap=True)
        exit_code = 1
    finally:
        # Shutdown is bounded (each component is killed after its grace period); ignore more signals.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for component in reversed(started):
            code = component.stop()
            clean = code in (0, None, -signal.SIGTERM, -signal.SIGINT)
            console.print(f"stopped {component.name}" + ("" if clean else f" (exit code {code})"))
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    raise typer.Exit(exit_code)


def _seed(
    profile_url: str,
    secrets: dict[str, str],
    *,
    tiering_url: str | None = None,
    engagement_url: str | None = None,
    complaints_url: str | None = None,
) -> None:
    if not _truthy(os.environ.get("SEED"), default=True):
        console.print("SEED=0: not seeding demo data")
        return
    try:
        from crm_cli.seed import seed_if_empty  # written separately; may not exist yet
    except ImportError as exc:
        console.print(f"[yellow]warning: demo data not seeded (cannot import crm_cli.seed.seed_if_empty: {exc})[/]")
        return
    console.print("seeding demo data (if the database is empty) …")
    try:
        _resolve(
            seed_if_empty(
                profile_url,
                secrets,
                tiering_url=tiering_url,
                engagement_url=engagement_url,
                complaints_url=complaints_url,
            )
        )
    except Exception as exc:  # noqa: BLE001 - the stack stays up; seeding is a convenience
        console.print(f"[yellow]warning: seeding failed: {exc!r}[/]")


def _summary(
    kafka: Any, mongo: Any, running: dict[str, Any], skipped: list[Any], base: Path, data: Path, logs: Path
) -> Table:
    table = Table(title="CRM stack is running", title_justify="left")
    table.add_column("component", style="bold", no_wrap=True)
    table.add_column("address", overflow="fold")
    table.add_column("notes", ratio=1)
    for name, proc in running.items():
        table.add_row(name, proc.base_url, f"API docs {proc.docs_url}")
    for spec in skipped:
        table.add_row(spec.name, "—", f"not installed ({spec.package} not importable)", style="dim")
    table.add_row("kafka", kafka.bootstrap, "embedded Tansu, in memory (emptied on stop)")
    table.add_row("mongodb", mongo.uri, f"embedded SecantusDB, data kept in {data}")
    table.add_row("logs", f"{logs}/", "one file per component; service output is also shown here")
    table.add_row("secrets", str(base / "secrets.env"), "CRM_* secrets in the environment take precedence")
    return table


# --------------------------------------------------------------------------------------------
# crm token


@app.command()
def token(
    role: Annotated[Role, typer.Option("--role", help="staff role", case_sensitive=False)],
    staff_id: Annotated[str, typer.Option("--staff-id", help="staff id, e.g. S0003")],
    branch: Annotated[str | None, typer.Option("--branch", help="branch code, e.g. BR001")] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="lifetime: 90s, 30m, 8h, 1d …")] = "8h",
) -> None:
    """Print a bearer token (HS256, signed with the dev secret) accepted by the running stack."""
    from crm_cli.devenv import NoDevSecrets, load_dev_secrets
    from crm_kit.auth import issue_token

    try:
        secrets = load_dev_secrets(dev_dir() / "secrets.env")
    except NoDevSecrets as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    value = issue_token(
        secret=secrets["CRM_JWT_SECRET"],
        staff_id=staff_id,
        role=Role(role).value,
        branch=branch,
        ttl_seconds=parse_duration(ttl),
    )
    typer.echo(value)


# --------------------------------------------------------------------------------------------
# crm seed / crm import (implemented in crm_cli.seed and crm_cli.importer)


@app.command()
def seed(
    count: Annotated[int, typer.Option("--count", min=1, help="how many demo customers to create")] = 200,
    api: Annotated[str, typer.Option("--api", envvar="CRM_API", help="profile service base URL")] = DEFAULT_API,
    tiering_api: Annotated[
        str,
        typer.Option(
            "--tiering-api", envvar="CRM_TIERING_API", help="tiering service base URL (staff directory); '' to skip"
        ),
    ] = DEFAULT_TIERING_API,
    engagement_api: Annotated[
        str,
        typer.Option(
            "--engagement-api",
            envvar="CRM_ENGAGEMENT_API",
            help="engagement service base URL (product catalogue); '' to skip",
        ),
    ] = DEFAULT_ENGAGEMENT_API,
    complaints_api: Annotated[
        str,
        typer.Option(
            "--complaints-api",
            envvar="CRM_COMPLAINTS_API",
            help="complaints service base URL (handler roster, demo complaints); '' to skip",
        ),
    ] = DEFAULT_COMPLAINTS_API,
) -> None:
    """Create demo customers through the profile API, the staff directory in the tiering service, the
    product catalogue in the engagement service, and the handler roster and a few complaints in the
    complaints service."""
    seed_command = _load("crm_cli.seed", "seed_command", "seed")
    _exit_with(
        _resolve(
            seed_command(
                count=count,
                api=api,
                tiering_api=tiering_api or None,
                engagement_api=engagement_api or None,
                complaints_api=complaints_api or None,
            )
        )
    )


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="spreadsheet (.xlsx) or CSV of customers")
    ],
    api: Annotated[str, typer.Option("--api", envvar="CRM_API", help="profile service base URL")] = DEFAULT_API,
    staff_id: Annotated[str, typer.Option("--staff-id", help="staff id the import acts as")] = "S-IMPORT",
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help="role the import acts as")] = Role.ADMIN,
    branch: Annotated[str | None, typer.Option("--branch", help="branch of the acting staff")] = None,
    errors: Annotated[Path | None, typer.Option("--errors", help="write rejected rows and reasons here")] = None,
) -> None:
    """Import customers from a file through the profile API."""
    import_command = _load("crm_cli.importer", "import_command", "import")
    _exit_with(
        _resolve(
            import_command(file=file, api=api, staff_id=staff_id, role=Role(role).value, branch=branch, errors=errors)
        )
    )


# --------------------------------------------------------------------------------------------
# crm calendar load (implemented in crm_cli.calendar_load)

calendar_app = typer.Typer(
    help="The working-day calendar: load the State Council's holiday schedule.", no_args_is_help=True
)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("load")
def calendar_load(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="the notice as JSON (deploy/README.md), a list of notices, or the override file's shape",
        ),
    ],
    check: Annotated[bool, typer.Option("--check", help="validate the file only; send nothing")] = False,
    engagement_api: Annotated[
        str,
        typer.Option("--engagement-api", envvar="CRM_ENGAGEMENT_API", help="engagement service base URL; '' to skip"),
    ] = DEFAULT_ENGAGEMENT_API,
    complaints_api: Annotated[
        str,
        typer.Option("--complaints-api", envvar="CRM_COMPLAINTS_API", help="complaints service base URL; '' to skip"),
    ] = DEFAULT_COMPLAINTS_API,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="CRM_TOKEN",
            help="bearer token of a head_office or admin user (default: one signed with the dev secret)",
        ),
    ] = None,
    staff_id: Annotated[str, typer.Option("--staff-id", help="staff id of the dev token")] = "S-CALENDAR",
) -> None:
    """Validate a holiday schedule against the notice's shape and the statute, then load it into complaints and
    engagement: every replica applies it without a restart, and provisional due dates are recomputed."""
    load_command = _load("crm_cli.calendar_load", "load_command", "calendar load")
    apis = {name: url for name, url in (("complaints", complaints_api), ("engagement", engagement_api)) if url}
    _exit_with(
        _resolve(
            load_command(file=file, apis=apis, token=token, staff_id=staff_id, role=Role.ADMIN.value, check_only=check)
        )
    )


# --------------------------------------------------------------------------------------------
# crm dlt list|show|replay (implemented in crm_cli.dlt)

dlt_app = typer.Typer(
    help="Dead letters: see them per topic with their reason, replay chosen ones after a fix.", no_args_is_help=True
)
app.add_typer(dlt_app, name="dlt")

KafkaOption = Annotated[str, typer.Option("--kafka", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers")]
PrefixOption = Annotated[
    str,
    typer.Option("--prefix", envvar="KAFKA_TOPIC_PREFIX", help="the environment's topic prefix (KAFKA_TOPIC_PREFIX)"),
]


@dlt_app.command("list")
def dlt_list(
    topic: Annotated[
        str | None, typer.Option("--topic", help="one topic (e.g. corebank.balances); default all")
    ] = None,
    kafka: KafkaOption = DEFAULT_KAFKA,
    prefix: PrefixOption = "",
) -> None:
    """Every dead-letter topic with its count, and each letter: where it came from, the group, the reason."""
    from crm_cli.dlt import list_command

    _exit_with(_resolve(list_command(bootstrap=kafka, prefix=prefix, topic=topic)))


@dlt_app.command("show")
def dlt_show(
    letter: Annotated[str, typer.Argument(help="TOPIC:PARTITION:OFFSET as `crm dlt list` shows it")],
    raw: Annotated[bool, typer.Option("--raw", help="show the value as sent, personal data unmasked")] = False,
    kafka: KafkaOption = DEFAULT_KAFKA,
    prefix: PrefixOption = "",
) -> None:
    """One letter's headers and value; ID numbers, phones, names, e-mails and addresses masked unless --raw."""
    from crm_cli.dlt import show_command

    _exit_with(_resolve(show_command(bootstrap=kafka, prefix=prefix, coordinates=letter, raw=raw)))


@dlt_app.command("replay")
def dlt_replay(
    by: Annotated[str, typer.Option("--by", help="staff id of the operator (recorded)")],
    why: Annotated[str, typer.Option("--why", help="the fix that makes the replay succeed (recorded)")],
    letters: Annotated[list[str] | None, typer.Argument(help="TOPIC:PARTITION:OFFSET of each letter")] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="every letter of this topic whose reason matches --reason")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="with --topic: text the reason contains")] = None,
    kafka: KafkaOption = DEFAULT_KAFKA,
    prefix: PrefixOption = "",
    mongodb_uri: Annotated[
        str, typer.Option("--mongodb-uri", envvar="MONGODB_URI", help="where replays are recorded")
    ] = DEFAULT_MONGODB_URI,
    database: Annotated[
        str, typer.Option("--database", envvar="CRM_OPS_DATABASE", help="database of the replay records")
    ] = "crm_ops",
    idempotent_producer: Annotated[
        bool, typer.Option("--idempotent-producer/--no-idempotent-producer", envvar="KAFKA_IDEMPOTENT_PRODUCER")
    ] = False,
) -> None:
    """Republish chosen letters to their source topic for the group that rejected them, each recorded (who, when,
    which, why) and applied once: a letter already replayed is refused (exit code 3)."""
    from crm_cli.dlt import replay_command

    if not letters and not topic:
        raise typer.BadParameter("name letters (TOPIC:PARTITION:OFFSET) or --topic with --reason")
    if topic and not reason:
        raise typer.BadParameter("--topic needs --reason: replaying a whole topic blindly is not allowed")
    if not by.strip() or not why.strip():
        raise typer.BadParameter("--by and --why must not be empty")
    try:
        result = _resolve(
            replay_command(
                bootstrap=kafka,
                prefix=prefix,
                coordinates=list(letters or []),
                topic=topic,
                reason=reason,
                by=by.strip(),
                why=why.strip(),
                mongodb_uri=mongodb_uri,
                database=database,
                idempotent_producer=idempotent_producer,
            )
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _exit_with(result)


if __name__ == "__main__":  # python -m crm_cli.main
    app()
