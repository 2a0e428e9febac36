"""State gauges of the audit trail, computed at scrape time."""
from __future__ import annotations

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from custos.metrics import state_collector

from .conf import conf
from .models import AuditEvent, ExportCursor, JobRun


@state_collector("audit")
def audit_state():
    backlog = GaugeMetricFamily("custos_audit_export_backlog", "Events a sink has not acknowledged yet",
                                labels=["sink"])
    lag = GaugeMetricFamily("custos_audit_export_lag_seconds", "Age of the oldest event a sink has not acknowledged",
                            labels=["sink"])
    now = timezone.now()
    last_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    cursors = dict(ExportCursor.objects.values_list("sink", "last_event_id"))
    for sink in conf().sinks:
        position = cursors.get(sink, 0)
        backlog.add_metric([sink], max(0, last_id - position))
        oldest = (AuditEvent.objects.filter(id__gt=position).order_by("id").values_list("occurred_at", flat=True)
                  .first())
        lag.add_metric([sink], (now - oldest).total_seconds() if oldest else 0.0)
    yield backlog
    yield lag
    runs = GaugeMetricFamily("custos_job_last_success_timestamp_seconds", "Last successful run of a periodic job",
                             labels=["job"])
    for name, at in JobRun.objects.exclude(last_success_at=None).values_list("name", "last_success_at"):
        runs.add_metric([name], at.timestamp())
    yield runs
