# Every service's image, one Dockerfile. Build from the repository root (a service needs contracts/ and kit/ too):
#   docker build --build-arg SERVICE=profile -t crm-profile .      (profile | tiering | engagement | complaints)
FROM python:3.11-slim

ARG SERVICE
RUN case "$SERVICE" in profile|tiering|engagement|complaints) ;; \
      *) echo "build with --build-arg SERVICE=profile|tiering|engagement|complaints (got '$SERVICE')" >&2; exit 1 ;; esac

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    SERVICE=${SERVICE}

RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin crm

WORKDIR /src
COPY contracts ./contracts
COPY kit ./kit
COPY services/${SERVICE} ./services/${SERVICE}
RUN pip install --no-cache-dir ./contracts ./kit ./services/${SERVICE} \
 && rm -rf /src

WORKDIR /app
USER crm:crm

# profile 8001, tiering 8002, engagement 8003, complaints 8004 (<SERVICE>_PORT moves it).
EXPOSE 8001-8004

# Liveness only (no curl in slim). Compose overrides this with a readiness check on /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD python -m crm_kit.serve "$SERVICE" --probe /healthz || exit 1

# `exec` makes the server PID 1 so SIGTERM reaches it: the lifespan then drains consumers and flushes the outbox.
CMD ["sh", "-c", "exec python -m crm_kit.serve \"$SERVICE\""]
