from __future__ import annotations

from typing import Any

from django.conf import settings


def conf(key: str) -> Any:
    return settings.CUSTOS_AUDIT[key]
