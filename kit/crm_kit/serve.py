"""How a service's image runs it (the one Dockerfile, `ARG SERVICE`): `python -m crm_kit.serve profile` starts
uvicorn on the port the service's settings read (`PROFILE_PORT`, else their default); `--probe /healthz` asks that
port for a path instead, as the image's health check does."""

from __future__ import annotations

import argparse
import importlib
import os
import urllib.request

import uvicorn
from pydantic import AliasChoices
from pydantic_settings import BaseSettings


def settings_class(service: str) -> type[BaseSettings]:
    """`crm_<service>.settings.<Service>Settings`, the convention every service follows."""
    module = importlib.import_module(f"crm_{service}.settings")
    found: type[BaseSettings] = getattr(module, f"{service.capitalize()}Settings")
    return found


def port_of(service: str, environ: dict[str, str] | os._Environ[str] | None = None) -> int:
    """The port as the service's settings would read it, without building them (no secrets needed)."""
    environ = os.environ if environ is None else environ
    field = settings_class(service).model_fields["port"]
    names = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else ["port"]
    upper = {k.upper(): v for k, v in environ.items()}
    for name in names:
        if isinstance(name, str) and name.upper() in upper:
            return int(upper[name.upper()])
    return int(field.default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_kit.serve", description=__doc__)
    parser.add_argument("service", choices=["profile", "tiering", "engagement", "complaints"])
    parser.add_argument("--probe", metavar="PATH", help="GET this path on the service's port; exit 1 unless 2xx")
    args = parser.parse_args(argv)
    port = port_of(args.service)
    if args.probe:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{args.probe}", timeout=4) as answer:
                return 0 if 200 <= answer.status < 300 else 1
        except OSError as exc:  # refused, timed out, or an HTTP error status
            print(f"{args.service} on port {port}: {args.probe} failed: {exc}")
            return 1
    uvicorn.run(f"crm_{args.service}.main:create_app", factory=True, host=os.environ.get("HOST", "0.0.0.0"), port=port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
