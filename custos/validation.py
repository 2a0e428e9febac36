"""Small parsers for values that come from URLs and JSON, strict enough that nothing past
them can overflow or misread (Unicode digits, 64-bit limits)."""
from __future__ import annotations

import re

from .exceptions import ValidationFailed

_ASCII_ID = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1


def parse_id(raw: object, field: str, *, optional: bool = True) -> int | None:
    """A positive 64-bit id from an int or a string of ASCII digits."""
    if raw is None or raw == "":
        if optional:
            return None
        raise ValidationFailed(fields={field: ["This field is required."]})
    if isinstance(raw, bool):
        raise ValidationFailed(fields={field: ["An integer id."]})
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _ASCII_ID.fullmatch(raw):
        value = int(raw)
    else:
        raise ValidationFailed(fields={field: ["An integer id."]})
    if not 1 <= value <= MAX_ID:
        raise ValidationFailed(fields={field: ["An integer id."]})
    return value


def require_str(data: dict, field: str, *, max_length: int = 4096, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_length:
        raise ValidationFailed(fields={field: ["This field is required." if value in (None, "") else
                                               "Must be a string." if not isinstance(value, str) else
                                               f"At most {max_length} characters."]})
    return value


def body_of(request) -> dict:
    """A DRF request's JSON object (StrictJSONParser already refuses anything else; this keeps
    a view honest if another parser is ever configured)."""
    if not isinstance(request.data, dict):
        raise ValidationFailed("The JSON body must be an object.")
    return request.data
