from __future__ import annotations

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """JSON only, and a body that is not a JSON object is a validation error.

    NaN/Infinity are refused (not JSON); the body must be UTF-8."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            raw = stream.read() if stream is not None else b""
        except Exception as exc:  # RequestDataTooBig and friends
            raise ParseError("The request body could not be read.") from exc
        try:
            return json_object(raw)
        except ValueError as exc:
            raise ParseError(str(exc)) from exc


def json_object(raw: bytes) -> dict:
    """The JSON object a request body holds ({} for none); ValueError says what is wrong."""
    if not raw:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError("Malformed JSON body.") from exc
    if not isinstance(data, dict):
        raise ValueError("The JSON body must be an object.")
    return data


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999: JSON has no infinity
        raise ValueError("number out of range")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
