"""``/metrics``: review backlog and SLA breaches in the Prometheus text format.

Figures are read from the database at scrape time, so every process reports the same truth
and nothing is lost on restart. An optional bearer token keeps the endpoint private.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from faceverdict.services.review.reports import ReviewReports


class ReviewCollector(Collector):
    """Backlog, breaches, oldest task age and agreement, per flow (and tier, priority)."""

    def __init__(self, reports: ReviewReports) -> None:
        self.reports = reports

    def collect(self) -> Iterator[Metric]:
        """The current figures."""
        backlog = self.reports.backlog()
        tasks = GaugeMetricFamily(
            "faceverdict_review_backlog_tasks",
            "Unfinished review tasks (waiting or in progress).",
            labels=["flow", "tier", "priority", "state"],
        )
        breached = GaugeMetricFamily(
            "faceverdict_review_sla_breached_tasks",
            "Unfinished review tasks past their SLA due time.",
            labels=["flow", "tier", "priority"],
        )
        oldest = GaugeMetricFamily(
            "faceverdict_review_oldest_task_age_seconds",
            "Age of the oldest unfinished review task.",
            labels=["flow"],
        )
        ages: dict[str, float] = {}
        for row in backlog.rows:
            labels = [row.flow, row.tier.value, row.priority.value]
            tasks.add_metric([*labels, "waiting"], row.open)
            tasks.add_metric([*labels, "in_progress"], row.claimed)
            breached.add_metric(labels, row.breached)
            if row.oldest_created_at is not None:
                age = (backlog.at - row.oldest_created_at).total_seconds()
                ages[row.flow] = max(ages.get(row.flow, 0.0), age)
        for flow, age in sorted(ages.items()):
            oldest.add_metric([flow], age)
        late = CounterMetricFamily(
            "faceverdict_review_sla_missed",
            "Review tasks finished after their SLA due time.",
            labels=["flow"],
        )
        for flow, count in sorted(backlog.completed_late.items()):
            late.add_metric([flow], count)
        agreement = GaugeMetricFamily(
            "faceverdict_review_agreement_ratio",
            "Share of a reviewer's double-reviewed cases where both reviewers agreed.",
            labels=["reviewer"],
        )
        for a in self.reports.agreement():
            if a.rate.rate is not None:
                agreement.add_metric([a.username], a.rate.rate)
        yield from (tasks, breached, oldest, late, agreement)


def metrics_router(reports: ReviewReports, token: str | None = None) -> APIRouter:
    """A router serving ``GET /metrics``; with ``token``, scrapers must send it as a bearer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReviewCollector(reports))
    router = APIRouter()
    expected = token.encode() if token else None

    @router.get("/metrics", include_in_schema=False)
    def metrics(authorization: str | None = Header(default=None)) -> Response:
        """Prometheus text exposition of the review figures."""
        if expected is not None:
            presented = (authorization or "").removeprefix("Bearer ").strip().encode()
            if not hmac.compare_digest(presented, expected):
                return Response(
                    "send 'Authorization: Bearer <metrics token>'\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
