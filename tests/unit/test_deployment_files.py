"""docker-compose.yml and the one Dockerfile checked against the code.

Every service package (services/<name>/pyproject.toml) must be deployable from compose: built from
the Dockerfile with `SERVICE=<name>`, published on the port its Settings class defaults to, configured only through
variables its Settings class actually reads (a typo fails here instead of being silently ignored),
given every setting that has no default, health-checked, and started only after healthy Kafka and
MongoDB.
"""

from __future__ import annotations

import base64
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from crm_kit.serve import port_of
from crm_kit.serve import settings_class as settings_class_of_server

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Service name -> (settings module, settings class). Add a row when a service gets its pyproject.toml.
SETTINGS: dict[str, tuple[str, str]] = {
    "profile": ("crm_profile.settings", "ProfileSettings"),
    "tiering": ("crm_tiering.settings", "TieringSettings"),
    "engagement": ("crm_engagement.settings", "EngagementSettings"),
    "complaints": ("crm_complaints.settings", "ComplaintsSettings"),
}
INFRASTRUCTURE = ("kafka", "mongodb")

SERVICE_DIRS = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), "docker-compose.yml missing at the repository root"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


def settings_class(name: str) -> type[BaseSettings]:
    assert name in SETTINGS, f"services/{name} has a pyproject.toml: add it to SETTINGS in {Path(__file__).name}"
    module, cls = SETTINGS[name]
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable (upper case) -> settings field it sets, as pydantic-settings reads them."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    names: dict[str, str] = {}
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [prefix + field_name]
        for choice in choices:
            names[choice.upper()] = field_name
    return names


def port_var(cls: type[BaseSettings]) -> str:
    """The `<NAME>_PORT` variable that sets the `port` field."""
    candidates = [var for var, field in env_names(cls).items() if field == "port" and var.endswith("_PORT")]
    assert len(candidates) == 1, f"{cls.__name__}.port needs exactly one <NAME>_PORT alias, found {candidates}"
    return candidates[0]


def default_port(cls: type[BaseSettings]) -> int:
    info = cls.model_fields["port"]
    assert not info.is_required(), f"{cls.__name__}.port has no default"
    return int(info.default)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str, provided: dict[str, str]) -> str:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR:?error}` with `provided` as the shell environment."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        if name in provided:
            return provided[name]
        if op in (":-", "-"):
            return arg or ""
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} is required by compose ({arg}) and the test did not provide it")
        return ""

    return _VAR.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) for each `ports` entry, short or long syntax."""
    out: list[tuple[int, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/", 1)[0].split(":")
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 else container
        out.append((host, container))
    return out


def healthcheck_command(service: dict[str, Any]) -> str:
    hc = service.get("healthcheck") or {}
    assert not hc.get("disable"), "healthcheck disabled"
    test = hc.get("test")
    assert test, "no healthcheck test"
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), f"healthcheck test must start with CMD or CMD-SHELL: {test}"
        return " ".join(str(t) for t in test[1:])
    return str(test)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        joined.append(buf + line)
        buf = ""
    if buf:
        joined.append(buf)
    out = []
    for line in joined:
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), args.strip()))
    return out


def dockerfile_of(compose: dict[str, Any], name: str) -> Path:
    build = compose["services"][name].get("build")
    assert build, f"compose service {name!r} has no build"
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return (ROOT / context / dockerfile).resolve()


def fake_value(var: str) -> str:
    if var in ("CRM_DATA_KEY", "CRM_LOOKUP_KEY"):
        return base64.b64encode(bytes(range(32))).decode()
    return f"test-{var.lower()}"


# ---------------------------------------------------------------------------------------------
# services


def test_there_is_at_least_one_service() -> None:
    assert "profile" in SERVICE_DIRS


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_service_is_built_from_the_one_dockerfile(compose: dict[str, Any], name: str) -> None:
    assert name in compose["services"], f"services/{name} has a pyproject.toml but no compose service {name!r}"
    dockerfile = dockerfile_of(compose, name)
    assert dockerfile == (ROOT / "Dockerfile").resolve(), f"{name} is built from {dockerfile}"
    build = compose["services"][name]["build"]
    assert isinstance(build, dict) and (build.get("args") or {}).get("SERVICE") == name, (
        f"{name} must be built with args: SERVICE: {name}"
    )
    assert (ROOT / build.get("context", ".")).resolve() == ROOT, "build context must be the repository root"
    assert not (ROOT / "services" / name / "Dockerfile").exists(), "one Dockerfile for every service"


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_published_port_is_the_settings_default_and_the_port_variable(compose: dict[str, Any], name: str) -> None:
    cls = settings_class(name)
    port, var = default_port(cls), port_var(cls)
    service = compose["services"][name]
    ports = published_ports(service)
    assert ports, f"{name} publishes no port"
    assert (port, port) in ports, f"{name} must publish {port}:{port} (its {cls.__name__}.port default); has {ports}"
    env = environment(service)
    assert env.get(var) == str(port), f"{name}: {var} must be {port}, is {env.get(var)!r}"


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_service_is_health_checked_and_waits_for_healthy_infrastructure(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    port = default_port(settings_class(name))
    command = healthcheck_command(service)
    assert f"crm_kit.serve {name} --probe /readyz" in command, f"{name}'s healthcheck should probe /readyz: {command}"
    assert port_of(name, environment(service)) == port
    depends = service.get("depends_on")
    assert isinstance(depends, dict), f"{name}: depends_on must be the long form with conditions"
    for dep in INFRASTRUCTURE:
        assert dep in depends, f"{name} does not depend on {dep}"
        assert (depends[dep] or {}).get("condition") == "service_healthy", (
            f"{name} -> {dep} must wait for service_healthy"
        )
    assert service.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name} has no restart policy"


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_environment_only_sets_real_settings_fields(compose: dict[str, Any], name: str) -> None:
    known = env_names(settings_class(name))
    unknown = sorted(var for var in environment(compose["services"][name]) if var.upper() not in known)
    assert not unknown, f"{name} sets variables its settings do not read (typo?): {unknown}"


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_required_settings_are_provided(compose: dict[str, Any], name: str) -> None:
    cls = settings_class(name)
    names = env_names(cls)
    provided_fields = {names[var.upper()] for var in environment(compose["services"][name]) if var.upper() in names}
    missing = sorted(f for f, info in cls.model_fields.items() if info.is_required() and f not in provided_fields)
    assert not missing, f"{name} does not set required settings: {missing}"
    # TokenVerifier refuses to start without one of them.
    assert provided_fields & {"crm_jwt_secret", "crm_jwt_jwks_url"}, (
        f"{name} sets neither CRM_JWT_SECRET nor CRM_JWT_JWKS_URL"
    )


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_secrets_come_from_the_shell_and_are_mandatory(compose: dict[str, Any], name: str) -> None:
    cls = settings_class(name)
    names = env_names(cls)
    for var, value in environment(compose["services"][name]).items():
        field = names.get(var.upper())
        info = cls.model_fields.get(field or "")
        if info is None or "SecretStr" not in repr(info.annotation):
            continue
        m = _VAR.fullmatch(value)
        assert m and m.group("op") == ":?", (
            f"{name}: {var} must be ${{{var}:?...}} (no literal secret, refuse to start without it)"
        )


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_compose_environment_makes_valid_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(name)
    names = env_names(cls)
    env = environment(compose["services"][name])
    shell = {
        m.group("name"): fake_value(m.group("name"))
        for v in env.values()
        for m in _VAR.finditer(v)
        if m.group("op") in (":?", "?")
    }
    for var in names:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, interpolate(value, shell))
    settings = cls()  # type: ignore[call-arg]
    assert settings.port == default_port(cls)  # type: ignore[attr-defined]
    assert settings.kafka_idempotent_producer is True, "compose runs real Kafka: KAFKA_IDEMPOTENT_PRODUCER=true"  # type: ignore[attr-defined]
    assert settings.log_format == "json"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_dockerfile_exposes_the_port_and_checks_health(compose: dict[str, Any], name: str) -> None:
    port = default_port(settings_class(name))
    instructions = dockerfile_instructions(dockerfile_of(compose, name))
    by_kind: dict[str, list[str]] = {}
    for instr, args in instructions:
        by_kind.setdefault(instr, []).append(args)

    assert by_kind.get("FROM", [""])[0].startswith("python:3.11"), "base image must be python:3.11*"
    assert "SERVICE" in by_kind.get("ARG", []), "the Dockerfile takes ARG SERVICE"
    exposed = set()
    for args in by_kind.get("EXPOSE", []):
        for item in args.split():
            low, _, high = item.split("/")[0].partition("-")
            exposed |= set(range(int(low), int(high or low) + 1))
    assert port in exposed, f"Dockerfile must EXPOSE {port}; exposes {sorted(exposed)}"
    healthchecks = by_kind.get("HEALTHCHECK", [])
    assert healthchecks and not healthchecks[-1].upper().startswith("NONE"), "Dockerfile has no HEALTHCHECK"
    assert 'crm_kit.serve "$SERVICE" --probe /healthz' in healthchecks[-1]
    users = by_kind.get("USER", [])
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    installs = " ".join(a for a in by_kind.get("RUN", []) if "pip install" in a)
    for path in ("./contracts", "./kit", "./services/${SERVICE}"):
        assert path in installs, f"Dockerfile does not pip install {path}"
    cmd = by_kind.get("CMD", [""])[-1]
    assert "exec python -m crm_kit.serve" in cmd and "$SERVICE" in cmd, (
        "CMD should exec the kit's server for $SERVICE, so SIGTERM reaches it (graceful shutdown)"
    )


def test_the_server_takes_the_port_its_settings_read() -> None:
    for name in SERVICE_DIRS:
        cls = settings_class(name)
        port, var = default_port(cls), port_var(cls)
        assert port_of(name, {}) == port
        assert port_of(name, {var: "9100"}) == 9100
        assert port_of(name, {var.lower(): "9101"}) == 9101  # settings read the environment case-insensitively
        assert settings_class_of_server(name) is cls


def test_cli_service_table_agrees_with_settings() -> None:
    stack = pytest.importorskip("crm_cli.stack")
    for spec in stack.SERVICES:
        if spec.name in SETTINGS:
            cls = settings_class(spec.name)
            assert (spec.port_var, spec.default_port) == (port_var(cls), default_port(cls)), spec


# ---------------------------------------------------------------------------------------------
# infrastructure


@pytest.mark.parametrize("name", INFRASTRUCTURE)
def test_infrastructure_has_healthchecks(compose: dict[str, Any], name: str) -> None:
    assert name in compose["services"], f"compose has no {name} service"
    healthcheck_command(compose["services"][name])


def test_kafka_is_kraft_and_advertises_the_address_services_use(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = environment(kafka)
    assert "kafka-broker-api-versions.sh" in healthcheck_command(kafka)
    assert env.get("KAFKA_PROCESS_ROLES") == "broker,controller"
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", "services create their topics and .dlt topics"
    for var in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env.get(var) == "1", f"single node: {var} must be 1"
    advertised = {a.split("://", 1)[1] for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in SERVICE_DIRS:
        bootstrap = environment(compose["services"][name]).get("KAFKA_BOOTSTRAP_SERVERS", "")
        assert bootstrap and set(bootstrap.split(",")) <= advertised, f"{name}: {bootstrap} is not advertised by kafka"


def test_mongodb_runs_as_the_replica_set_services_name(compose: dict[str, Any]) -> None:
    mongodb = compose["services"]["mongodb"]
    command = mongodb.get("command")
    command = " ".join(command) if isinstance(command, list) else str(command)
    m = re.search(r"--replSet[ =](\S+)", command)
    assert m, "mongod must run with --replSet (transactions need a replica set)"
    replset = m.group(1)
    check = healthcheck_command(mongodb)
    assert "rs.initiate" in check and f"_id:'{replset}'" in check.replace('"', "'").replace(" ", "")
    assert any(
        v.get("target", str(v).split(":")[-1]) == "/data/db" if isinstance(v, dict) else str(v).endswith(":/data/db")
        for v in mongodb.get("volumes") or []
    ), "MongoDB data needs a volume"
    for name in SERVICE_DIRS:
        uri = environment(compose["services"][name]).get("MONGODB_URI", "")
        assert f"replicaSet={replset}" in uri, f"{name}: MONGODB_URI must name replicaSet={replset}: {uri}"
        assert uri.startswith("mongodb://mongodb:"), f"{name}: MONGODB_URI must point at the mongodb service: {uri}"
