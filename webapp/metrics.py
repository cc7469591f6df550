"""Prometheus metrics at /metrics: requests by route, submit latency, invitations by state,
the aggregation lag, the Celery workers' tasks and the standard process metrics.

Under gunicorn (and in `pulse run`) every process writes its samples to the directory named by
PROMETHEUS_MULTIPROC_DIR and a scrape of any web process merges them all, the Celery workers'
included (webapp/gunicorn_conf.py and worker/metrics.py prepare the directory). Without it,
the plain in-process registry is served.

Who may read it: with PULSE_METRICS_TOKEN set, a client presenting it as a bearer token;
without, only a client on this machine (127.0.0.1 or ::1) that did not come through a proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import redis
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from webapp.extensions import limiter
from webapp.metrics_collectors import AggregationLag, InvitationStates
from webapp.metrics_files import (
    SampleFiles,
    ensure_multiproc_dir,
    multiproc_dir,
    refresh_process_gauges,
)

log = logging.getLogger(__name__)

TOKEN_ENV = "PULSE_METRICS_TOKEN"
# The path parameters of a URL rule (an answer link's token among them) never reach a label:
# a request is labelled with its rule, `/s/<token>`, and one that matched no rule with this.
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A submit is one batch of writes: typically a few milliseconds, seconds when the database
# is contended.
SUBMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "pulse_http_requests",
    "HTTP requests answered, by route (the URL rule, never the path), method and status.",
    ["route", "method", "status"],
)
SUBMIT_SECONDS = Histogram(
    "pulse_answer_submit_seconds",
    "Time to answer a POST to the answer page (a submit), by status.",
    ["status"],
    buckets=SUBMIT_BUCKETS,
)

blueprint = Blueprint("metrics", __name__)


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class _Guarded:
    """A collector whose failure costs its own figures and is reported, never the scrape."""

    def __init__(self, name: str, collector: Collector) -> None:
        self.name = name
        self.collector = collector

    def collect(self) -> Iterator[Metric]:
        failed = 0
        try:
            families = list(self.collector.collect())
        except Exception:
            log.exception("metrics: the %s collector failed", self.name)
            families, failed = [], 1
        yield from families
        yield GaugeMetricFamily(
            f"pulse_metrics_{self.name}_failed",
            f"1 when the {self.name} figures could not be read at this scrape.",
            value=failed,
        )


class _Registry:
    """Hands on everything the default registry holds (plain mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(app: Flask) -> CollectorRegistry:
    """A registry for one scrape: this process (or every process's files) and the figures
    read from the database at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiproc_dir()
    source: Collector = _Registry() if directory is None else SampleFiles(directory)
    registry.register(_Guarded("samples", source))
    for name, collector in app.extensions["pulse.metrics"].items():
        registry.register(_Guarded(name, collector))
    return registry


# Who may read it ----------------------------------------------------------------------------

_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _plain(message: str, status: int, **headers: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def refusal() -> Response | None:
    """Why this request may not read the metrics, as the response to send; None if it may."""
    token: str = current_app.config.get(TOKEN_ENV) or ""
    if not token:
        # A reverse proxy on this machine would make every client look local: a request that
        # came through one is refused too.
        proxied = any(header in request.headers for header in _FORWARDING_HEADERS)
        if _is_loopback(request.remote_addr) and not proxied:
            return None
        return _plain(
            "Metrics are served only to this machine (127.0.0.1 or ::1), not through a proxy, "
            f"while {TOKEN_ENV} is unset. Set {TOKEN_ENV} and send it as "
            "'Authorization: Bearer <token>' to scrape from elsewhere.",
            403,
        )
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    challenge = 'Bearer realm="metrics"'
    if scheme.lower() != "bearer" or not given.strip():
        return _plain(
            "Metrics need the metrics token: send 'Authorization: Bearer <token>'.",
            401,
            **{"WWW-Authenticate": challenge},
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _plain(
            "That bearer token is not the metrics token.",
            401,
            **{"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        )
    return None


@blueprint.route("/metrics")
@limiter.exempt
def metrics() -> Response:
    """The Prometheus exposition (or OpenMetrics when the scraper asks for it)."""
    refused = refusal()
    if refused is not None:
        return refused
    refresh_process_gauges()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(scrape_registry(current_app))
    response = Response(body, status=200, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


# Counting requests --------------------------------------------------------------------------


def _start() -> None:
    g.metrics_started = time.perf_counter()


# The counter's child for each (route, method, status) seen: `labels()` validates the labels
# and takes the metric's lock on every call, which a dictionary lookup spares every request
# after a key's first. The children stay those of HTTP_REQUESTS (it never clears them).
_request_counts: dict[tuple[str, str, str], Any] = {}


def _count(response: Response) -> Response:
    current = request._get_current_object()  # type: ignore[attr-defined]
    status = str(response.status_code)
    method = current.method if current.method in _METHODS else "OTHER"
    rule = current.url_rule  # labelled `/s/<token>`, never the path with the token in it
    key = (rule.rule if rule is not None else UNMATCHED, method, status)
    counter = _request_counts.get(key)
    if counter is None:
        counter = _request_counts.setdefault(
            key, HTTP_REQUESTS.labels(route=key[0], method=method, status=status)
        )
    counter.inc()
    if method == "POST" and current.endpoint == "survey.answer":
        started = g.get("metrics_started")
        if started is not None:
            SUBMIT_SECONDS.labels(status=status).observe(time.perf_counter() - started)
    refresh_process_gauges()
    return response


def _redis_for(app: Flask) -> Any:
    url = app.config["PULSE"].redis_url

    def client() -> redis.Redis:
        # Short timeouts: a scrape without Redis falls back rather than waits.
        return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)

    return client


def install(app: Flask) -> None:
    """Serve /metrics and count every request of `app`."""
    ensure_multiproc_dir()
    app.config.setdefault(TOKEN_ENV, os.environ.get(TOKEN_ENV, "").strip())
    sessions = app.extensions["pulse.db"][1]
    app.extensions["pulse.metrics"] = {
        "invitations": InvitationStates(sessions),
        "aggregation": AggregationLag(sessions, _redis_for(app)),
    }
    app.before_request(_start)
    app.after_request(_count)
    app.register_blueprint(blueprint)
