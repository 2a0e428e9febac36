"""Response helpers shared by every room's interfaces."""
from __future__ import annotations

from typing import TypeVar

from django.http import HttpResponseBase

R = TypeVar("R", bound=HttpResponseBase)


def no_store(response: R, *, pragma: bool = False) -> R:
    """Forbid every cache to keep `response`: it carries a secret (a token, a code, a key) or a
    caller-specific export. `pragma` adds HTTP/1.0's `Pragma: no-cache`, which token responses
    send (RFC 6749 section 5.1)."""
    response["Cache-Control"] = "no-store"
    if pragma:
        response["Pragma"] = "no-cache"
    return response
