"""JSON log lines with the request id; message arguments are never expanded into secrets
because services log ids and codes, not payloads.

Every process writes one JSON object per line: the web's own records, gunicorn's access and
error logs (config/gunicorn.py), Celery's worker and beat (config/celery.py), and whatever a
library prints or warns (`capture_std_streams`), so the stream parses line by line."""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime

from . import context

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "request_id"}


def _current_task():
    """The Celery task this thread is running, if Celery is loaded at all (custos imports no room,
    and a process without Celery pays nothing)."""
    state = sys.modules.get("celery._state")
    if state is None:
        return None
    try:
        return state.get_current_task()
    except Exception:  # noqa: BLE001 - a log line never fails over its decoration
        return None


class RequestContextFilter(logging.Filter):
    """The request id of the current request (or the task that inherited it), and the task
    name and id inside a Celery task. A record that names its request id already keeps it
    (gunicorn's access line, logged after the request's context is gone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = context.current().request_id
        if not hasattr(record, "task_name"):
            task = _current_task()
            if task is not None and getattr(task, "name", None):
                record.task_name = task.name
                record.task_id = getattr(task.request, "id", None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        _celery_fields(record, out)
        if record.exc_info:
            out.setdefault("error", record.exc_info[0].__name__ if record.exc_info[0] else "")
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _celery_fields(record: logging.LogRecord, out: dict) -> None:
    """Celery's own lines name their task in the message's arguments: a worker's `Task
    <name>[<id>] received/succeeded/raised` ({'name', 'id', ...}) and beat's `Sending due task
    <entry> (<name>)`. They become fields, as in the lines tasks log themselves."""
    if not record.name.startswith("celery"):
        return
    # Celery repeats its arguments as `data` for custom handlers: the task's arguments and return
    # value among them (sealed codes and tokens travel as arguments). Only the names are kept.
    out.pop("data", None)
    if "task_name" in out:
        return
    args = record.args
    if isinstance(args, dict) and isinstance(args.get("name"), str):
        out["task_name"] = args["name"]
        if args.get("id"):
            out["task_id"] = str(args["id"])
        if args.get("exc"):
            out.setdefault("error", str(args["exc"]).split("(", 1)[0])
    elif record.name == "celery.beat" and isinstance(args, tuple) and len(args) == 2 \
            and str(record.msg).startswith("Scheduler: Sending due task"):
        out["schedule"], out["task_name"] = str(args[0]), str(args[1])


class LineWriter:
    """A file object that logs each complete line it is given as one record: what a library
    prints (sys.stdout) or writes to stderr becomes a JSON line like every other, instead of
    breaking the stream. Partial lines wait for their newline (or a flush)."""

    encoding = "utf-8"
    errors = "replace"
    mode = "w"
    closed = False

    def __init__(self, logger: logging.Logger, level: int, original=None) -> None:
        self.logger, self.level, self.original = logger, level, original
        self._buffer = ""
        self._guard = threading.local()

    def write(self, data) -> int:
        if not isinstance(data, str):
            data = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else str(data)
        if getattr(self._guard, "active", False):
            # a handler writing back to us (misconfigured): straight out, never a loop
            if self.original is not None:
                self.original.write(data)
            return len(data)
        self._buffer += data
        if "\n" in self._buffer:
            *lines, self._buffer = self._buffer.split("\n")
            self._emit(lines)
        return len(data)

    def _emit(self, lines: list[str]) -> None:
        self._guard.active = True
        try:
            for line in lines:
                if line.strip():
                    self.logger.log(self.level, line.rstrip("\r"))
        finally:
            self._guard.active = False

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._buffer:
            pending, self._buffer = self._buffer, ""
            self._emit([pending])

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        if self.original is None:
            raise OSError("no file descriptor")
        return self.original.fileno()

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def capture_std_streams(*, fd: bool = False) -> None:
    """Route prints, stray stderr writes and warnings through logging (and so through the JSON
    formatter). Call once logging is configured: its handlers hold the real stderr. With `fd`,
    whatever reaches file descriptor 1 without Python's sys.stdout (Celery writes its shutdown
    notices there with os.write; C libraries; forked children) is read back through a pipe
    and logged line by line too."""
    if fd and not _fd_captured:
        _capture_fd1()
    if not isinstance(sys.stdout, LineWriter):
        sys.stdout = LineWriter(logging.getLogger("stdout"), logging.INFO, sys.stdout)
    if not isinstance(sys.stderr, LineWriter):
        sys.stderr = LineWriter(logging.getLogger("stderr"), logging.WARNING, sys.stderr)
    logging.captureWarnings(True)


_fd_captured = False


def _capture_fd1() -> None:
    global _fd_captured
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)
    _fd_captured = True
    logger = logging.getLogger("stdout")

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.strip():
                    logger.info(line)

    threading.Thread(target=pump, name="custos-stdout", daemon=True).start()
