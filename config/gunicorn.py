"""gunicorn settings shared by `make run`, the benchmarks and the tests' real servers."""
import os


def post_worker_init(worker):
    # Requests gunicorn refuses before Django (malformed HTTP) answer in the JSON envelope.
    from custos.httperrors import install

    install()


def child_exit(server, worker):
    # Prometheus multiprocess mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
