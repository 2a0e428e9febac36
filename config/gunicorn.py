"""gunicorn settings shared by `make run` and the benchmarks."""
import os


def child_exit(server, worker):  # noqa: ANN001
    # Prometheus multiprocess mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
