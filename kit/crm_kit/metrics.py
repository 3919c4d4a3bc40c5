"""Prometheus metrics shared by every service (one process runs one service)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("crm_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("crm_http_request_seconds", "HTTP request latency", ["method", "route"])
MESSAGES_CONSUMED = Counter("crm_messages_consumed_total", "Messages consumed", ["topic", "group", "outcome"])
OUTBOX_PUBLISHED = Counter("crm_outbox_published_total", "Outbox rows published")
OUTBOX_PENDING = Gauge("crm_outbox_pending", "Outbox rows seen unsent at the last relay pass")
DEAD_LETTERS = Counter("crm_dead_letters_total", "Messages sent to dead letters", ["topic", "group"])
# Every command sent to MongoDB is one round trip (a bulk write of a batch is one, a commit is one):
# what the benchmarks divide by events.
DB_COMMANDS = Counter("crm_db_commands_total", "Commands sent to MongoDB (round trips)", ["command"])
UNFENCED_WRITES = Counter(
    "crm_unfenced_writes_total",
    "Writes a leased job's step made outside a fenced transaction (should stay 0)",
    ["command"],
)
CALENDAR_UNKNOWN = Counter(
    "crm_calendar_year_unknown_total",
    "Working-day look-ups for a year the calendar cannot compute at all (after 2099)",
    ["service"],
)
CALENDAR_OFFICIAL_LAST_YEAR = Gauge(
    "crm_calendar_official_last_year",
    "Last year of the unbroken run of official (or override) working-day schedules from this year; alert when the "
    "days ahead fall under 60",
    ["service"],
)
CALENDAR_OFFICIAL_DAYS_AHEAD = Gauge(
    "crm_calendar_official_days_ahead",
    "Days from today to the end of the last year an official (or override) schedule covers; after that, provisional",
    ["service"],
)
