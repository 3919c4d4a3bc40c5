"""Development state shared by every `crm` command: where it lives (`dev_dir`) and the secrets.

The running stack and the tokens printed by `crm token` (and `crm seed`, `crm import`) must agree on
CRM_JWT_SECRET, so all read the same values: the environment first, then `<dev dir>/secrets.env`
(created on first use, mode 0600). The dev dir is found the same way from any working directory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SECRET_VARS: tuple[str, ...] = ("CRM_JWT_SECRET", "CRM_DATA_KEY", "CRM_LOOKUP_KEY")
DEV_DIR_VAR = "CRM_DEV_DIR"
DEFAULT_SECRETS_PATH = Path(".dev/secrets.env")  # kept for callers that import it; see dev_dir()


def dev_dir() -> Path:
    """Where the development state lives (secrets, staff list, MongoDB data, logs), from any working directory.

    First match wins:
    1. ``$CRM_DEV_DIR`` when set;
    2. the ``.dev`` folder of the nearest ancestor of the working directory (itself included) that holds
       ``.dev/secrets.env`` — the stack `crm run` started there;
    3. the ``.dev`` folder of the nearest ancestor holding a ``Makefile`` and a ``services/`` directory
       (the repository root);
    4. ``./.dev``.
    A match in the working directory itself is returned as the relative ``.dev``, as before; a match
    further up is returned as an absolute path.
    """
    configured = os.environ.get(DEV_DIR_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    cwd = Path.cwd()
    ancestors = [cwd, *cwd.parents]

    def found(directory: Path) -> Path:
        return Path(".dev") if directory == cwd else directory / ".dev"

    for directory in ancestors:
        if (directory / ".dev" / "secrets.env").is_file():
            return found(directory)
    for directory in ancestors:
        if (directory / "Makefile").is_file() and (directory / "services").is_dir():
            return found(directory)
    return Path(".dev")


def dev_secrets_path() -> Path:
    """`secrets.env` in the dev dir (see `dev_dir`)."""
    return dev_dir() / "secrets.env"


def generate_secrets() -> dict[str, str]:
    """Fresh values for every secret variable."""
    from crm_kit.crypto import new_key_b64

    return {
        "CRM_JWT_SECRET": secrets.token_urlsafe(48),
        "CRM_DATA_KEY": new_key_b64(),
        "CRM_LOOKUP_KEY": new_key_b64(),
    }


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE file (blank lines and # comments ignored, optional quotes stripped)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export ") :].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Write KEY=VALUE lines to `path`, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# Development secrets for the local CRM stack (crm run / crm token). Do not commit.\n"
    body += "".join(f"{key}={value}\n" for key, value in values.items())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body.encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_or_create_dev_secrets(path: Path | None = None) -> dict[str, str]:
    """CRM_JWT_SECRET, CRM_DATA_KEY and CRM_LOOKUP_KEY for local development.

    Each value comes from os.environ if set there; otherwise from `path` (default: `secrets.env` in
    `dev_dir()`); the file is created (0600) with fresh values when missing, and completed when it
    lacks one of them.
    """
    path = Path(path) if path is not None else dev_secrets_path()
    from_env = {k: os.environ[k] for k in SECRET_VARS if os.environ.get(k)}
    if len(from_env) == len(SECRET_VARS):
        return from_env
    stored = read_env_file(path) if path.exists() else {}
    missing = [k for k in SECRET_VARS if not stored.get(k)]
    if missing:
        fresh = generate_secrets()
        stored = {**stored, **{k: fresh[k] for k in missing}}
        write_env_file(path, stored)
    return {k: from_env.get(k) or stored[k] for k in SECRET_VARS}


class NoDevSecrets(RuntimeError):
    """Tokens signed with secrets no running stack knows would only be refused."""


def load_dev_secrets(path: Path | None = None) -> dict[str, str]:
    """The secrets `crm run` uses, for the commands that talk to it (token, seed, import): from the
    environment or the dev secrets file, never made up."""
    path = Path(path) if path is not None else dev_secrets_path()
    from_env = {k: os.environ[k] for k in SECRET_VARS if os.environ.get(k)}
    if len(from_env) == len(SECRET_VARS):
        return from_env
    stored = read_env_file(path) if path.exists() else {}
    missing = [k for k in SECRET_VARS if not (from_env.get(k) or stored.get(k))]
    if missing:
        raise NoDevSecrets(
            f"no dev secrets at {path} ({', '.join(missing)} missing): start the stack with `make run` from the "
            "repository first, run this command inside the repository, or set CRM_DEV_DIR or CRM_JWT_SECRET, "
            "CRM_DATA_KEY and CRM_LOOKUP_KEY"
        )
    return {k: from_env.get(k) or stored[k] for k in SECRET_VARS}
