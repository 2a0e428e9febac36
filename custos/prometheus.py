"""django-prometheus's request middleware, leaner: every request still counts by method and
by status/view/method, with its latency by view/method (and the Before middleware's totals),
but the series nobody graphs for an API (by transport, by charset, body-size histograms, a
second per-view counter) are not recorded: each costs every request a few microseconds."""
from __future__ import annotations

from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince


class LeanPrometheusAfterMiddleware(PrometheusAfterMiddleware):
    def process_request(self, request):  # noqa: ANN001, ANN201
        self.metrics.requests_by_method.labels(method=self._method(request)).inc()
        request.prometheus_after_middleware_event = Time()

    def process_view(self, request, view_func, *view_args, **view_kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        return None

    def process_response(self, request, response):  # noqa: ANN001, ANN201
        method = self._method(request)
        name = self._get_view_name(request)
        self.metrics.responses_by_status_view_method.labels(status=str(response.status_code), view=name,
                                                            method=method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_by_view_method.labels(view=name, method=method).observe(
                TimeSince(started))
        return response
