"""Errors gunicorn answers itself, before Django sees a request, in Custos's one envelope.

A request that is not valid HTTP (a broken request line, an oversized header, a bad chunk
size) never reaches the WSGI application: gunicorn answers it with an HTML page of its own.
Clients of Custos key on `error.code`, so those answers are JSON with a stable code too.

gunicorn has no hook for this body; every worker writes it through `gunicorn.util.write_error`,
which `install()` replaces in the worker process (config/gunicorn.py calls it after a worker
starts). The status is still gunicorn's choice; only the body changes. The message is fixed
per status and never repeats what the client sent (gunicorn's own text quotes the request).
"""
from __future__ import annotations

import json
import socket
import uuid

from custos.exceptions import envelope

# status -> (code, message). Unknown statuses fall back to their class (4xx/5xx).
_ANSWERS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is not valid HTTP."),
    403: ("permission_denied", "The request was refused."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: ("headers_too_large", "The request headers are too large."),
    500: ("internal_error", "An internal error occurred."),
    501: ("not_implemented", "The request uses a transfer coding this server does not support."),
}


def answer(status: int, reason: str) -> bytes:
    """The whole HTTP response for a request gunicorn refused."""
    code, message = _ANSWERS.get(status) or _ANSWERS[500 if status >= 500 else 400]
    request_id = uuid.uuid4().hex
    # no request context here, so the request id is made for this answer
    body = json.dumps({**envelope(code, message), "request_id": request_id}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-Id: {request_id}\r\nCache-Control: no-store\r\n\r\n")
    return head.encode("latin-1") + body


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:  # gunicorn.util's signature
    from gunicorn import util

    util.write_nonblock(sock, answer(int(status_int), reason))


def install() -> None:
    from gunicorn import util

    util.write_error = write_error
