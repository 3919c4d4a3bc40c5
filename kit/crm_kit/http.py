"""FastAPI app factory every service uses: lifespan that starts and stops the runtime, bearer auth,
correlation ids, error mapping, /healthz, /readyz and /metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pymongo
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from starlette.routing import Match

from crm_kit.auth import TokenVerifier
from crm_kit.db import database_unavailable
from crm_kit.errors import CrmError
from crm_kit.logging import configure_logging, get_logger
from crm_kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from crm_kit.runtime import Runtime

log = get_logger(__name__)
CORRELATION_HEADER = "X-Correlation-ID"
RETRY_AFTER_SECONDS = 5
E = TypeVar("E", bound=Callable[..., Any])


def create_http_app(runtime: Runtime[Any], *, title: str, description: str, routers: Sequence[APIRouter]) -> FastAPI:
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=settings.service_name, fmt=settings.log_format, level=settings.log_level)
        await runtime.start()
        log.info("service started", port=settings.port)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(settings)

    @app.middleware("http")
    async def correlation_and_metrics(request: Request, call_next: Any) -> Response:
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        started = time.perf_counter()
        # One deadline for all the request's database calls: a stalled database is a quick 503, not a hang.
        with pymongo.timeout(_database_deadline(app, request.scope, settings)):
            response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers[CORRELATION_HEADER] = correlation_id
        if path not in ("/healthz", "/readyz", "/metrics"):
            log.info(
                "http request",
                method=request.method,
                route=path,
                status=response.status_code,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Names the field and the problem; never echoes the input, which may be an ID number or a phone.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(CrmError)
    async def crm_error(_: Request, exc: CrmError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status_code)

    @app.exception_handler(PyMongoError)
    async def database_error(_: Request, exc: PyMongoError) -> JSONResponse:
        if not database_unavailable(exc):
            raise exc
        log.warning("database unavailable", error=type(exc).__name__)
        return JSONResponse(
            {"detail": "database unavailable or not answering in time; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.get("/healthz", tags=["ops"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        # Ready = can take HTTP traffic: the database answers. A broker that is away does not take the replica
        # out of service (the outbox keeps the events until it is back); its state is reported. A broker that
        # answers but lacks topics the service could not recreate does.
        db_ok = await runtime.mongo.ping(timeout=settings.readiness_database_timeout_seconds)
        broker = runtime.broker_watch.state()
        ok = db_ok and not (broker["reachable"] and broker["missing_topics"])
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "database": db_ok, "broker": broker}
        if not ok:
            body["reason"] = "database not answering" if not db_ok else broker["problem"]
        return JSONResponse(
            body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


# Endpoints marked with @bulk_request (the functions themselves, as routes hold them).
_BULK_ENDPOINTS: set[Any] = set()


def bulk_request(endpoint: E) -> E:
    """Mark an endpoint whose database work legitimately takes long (imports, batches): its requests get
    `http_bulk_database_timeout_seconds` instead of the short deadline."""
    _BULK_ENDPOINTS.add(endpoint)
    return endpoint


def _database_deadline(app: FastAPI, scope: Any, settings: Any) -> float:
    for route in app.router.routes:
        if route.matches(scope)[0] == Match.FULL:
            if getattr(route, "endpoint", None) in _BULK_ENDPOINTS:
                return float(settings.http_bulk_database_timeout_seconds)
            break
    return float(settings.http_database_timeout_seconds)


def runtime_of(request: Request) -> Runtime[Any]:
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime
