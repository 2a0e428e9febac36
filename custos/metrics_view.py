from __future__ import annotations

import os

from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from .metrics import StateCollector

_state = StateCollector()


@require_GET
def metrics(request):
    """Every worker's counters (gunicorn multiprocess mode when PROMETHEUS_MULTIPROC_DIR is
    set) plus the state gauges, read once per scrape."""
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
