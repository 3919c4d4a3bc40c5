"""structlog set-up: JSON lines in production, console in dev, sensitive values never logged.

Standard-library loggers (uvicorn, aiokafka, faststream, pymongo) go through the same
processors, so the redaction applies to every line the process writes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from crm_kit.masking import redact_text

# Keys whose values are never written, whatever they hold.
SENSITIVE_KEYS = frozenset(
    {
        "id_number",
        "id_document",
        "number",
        "phone",
        "phones",
        "mobile",
        "email",
        "address",
        "birthday",
        "authorization",
        "token",
        "password",
        "secret",
    }
)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return "[…]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if str(k).lower() in SENSITIVE_KEYS else _scrub(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set)):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(event_dict)
    return scrubbed


def configure_logging(*, service: str, fmt: str = "json", level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become text before redaction, so values inside exception messages are masked too.
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            lambda _, __, ed: {**ed, "service": service},
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)
