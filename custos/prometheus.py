"""django-prometheus's request middleware, leaner: every request still counts by method and
by status/view/method, with its latency by view/method (and the Before middleware's totals),
but the series nobody graphs for an API (by transport, by charset, body-size histograms, a
second per-view counter) are not recorded: each costs every request a few microseconds."""
from __future__ import annotations

from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince


class LeanPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    # prometheus_client's labels() validates and sorts its arguments and takes a lock on every
    # call; the children it returns live as long as the metric, so each is looked up once.
    _children: dict[tuple, object] = {}

    def _child(self, metric, *values: str):
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def process_request(self, request):
        self._child(self.metrics.requests_by_method, self._method(request)).inc()
        request.prometheus_after_middleware_event = Time()

    def process_view(self, request, view_func, *view_args, **view_kwargs):
        return None

    def process_response(self, request, response):
        method = self._method(request)
        name = self._get_view_name(request)
        self._child(self.metrics.responses_by_status_view_method, str(response.status_code), name, method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self._child(self.metrics.requests_latency_by_view_method, name, method).observe(TimeSince(started))
        return response
