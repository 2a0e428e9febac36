from __future__ import annotations

import os

from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from .metrics import StateCollector

_state = StateCollector()


def _allowed(ip: str | None) -> bool:
    import ipaddress

    from django.conf import settings

    if not ip:
        return False
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(n, strict=False) for n in settings.CUSTOS_METRICS_ALLOW)


@require_GET
def metrics(request):
    """Every worker's counters (gunicorn multiprocess mode when PROMETHEUS_MULTIPROC_DIR is
    set) plus the state gauges, read once per scrape. Only for CUSTOS_METRICS_ALLOW: the
    counters tell an outsider how many sign-ins fail and which keys are old."""
    from . import context
    from .exceptions import json_error

    if not _allowed(context.current().ip):
        return json_error(403, "permission_denied", "Metrics are open to the monitoring networks only.")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # the process's own metrics
            registry.register(collector)
    registry.register(_state)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
