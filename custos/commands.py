"""The operators' commands refuse bad input with one line and a non-zero exit, never a traceback:
a command built on CustosCommand turns Custos's own errors (bad values, unknown names), a file
it cannot open and a database refusal into Django's CommandError ("CommandError: <line>", exit 1)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from .exceptions import CustosError


def one_line(exc: CustosError) -> str:
    """The error's message and, when it names fields, each field's first problem."""
    fields = getattr(exc, "fields", None) or {}
    detail = "; ".join(f"{name}: {msgs[0] if isinstance(msgs, list | tuple) and msgs else msgs}"
                       for name, msgs in fields.items())
    return f"{exc.message} ({detail})" if detail and detail not in exc.message else (detail or exc.message)


class CustosCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except CustosError as exc:
            raise CommandError(one_line(exc)) from exc
        except OSError as exc:  # a file named on the command line
            raise CommandError(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")) from exc
        except DatabaseError as exc:
            raise CommandError(f"the database refused: {type(exc).__name__}") from exc
