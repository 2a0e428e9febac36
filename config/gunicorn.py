"""gunicorn settings shared by `make run`, `make cluster`, the benchmarks and the tests' real servers.

Every line gunicorn writes is a JSON object from custos.logging.JsonFormatter, like the web's
own: its error log (the master's and workers' notices) and its access log, which carries the
method, the path without its query string (a setup link's token is in it), the status, the
bytes sent, the latency and the request id Custos answered with. The destinations stay
gunicorn's (`--error-logfile`, `--access-logfile -` for stdout); `access_log_format` is not used."""
import logging
import os

from gunicorn.glogging import Logger


class JsonLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        from custos.logging import JsonFormatter

        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        try:
            status = resp.status
            status = int(str(status).split(None, 1)[0]) if status is not None else None
            headers = {k.lower(): v for k, v in (resp.headers or [])}
            self.access_log.info("access", extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO", ""),
                "status": status,
                "bytes": getattr(resp, "sent", None),
                "latency_ms": round(request_time.total_seconds() * 1000, 2),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "request_id": headers.get("x-request-id", ""),
            })
        except Exception:  # noqa: BLE001 - as gunicorn's own access(): never fail the worker over a line
            self.error_log.exception("access log line failed")


logger_class = JsonLogger


def post_worker_init(worker):
    # Requests gunicorn refuses before Django (malformed HTTP) answer in the JSON envelope.
    from custos.httperrors import install
    from custos.logging import capture_std_streams

    install()
    # Django's LOGGING is in place (the app is loaded): a library's print becomes a JSON line too.
    capture_std_streams()


def child_exit(server, worker):
    # Prometheus multiprocess mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


logging.captureWarnings(True)
