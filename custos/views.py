from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    from keys import selectors as key_selectors

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - readiness reports, it does not raise
        checks["database"] = "fail"
    try:
        cache.set("custos:readyz", "1", 5)
        checks["cache"] = "ok" if cache.get("custos:readyz") == "1" else "fail"
    except Exception:  # noqa: BLE001
        checks["cache"] = "fail"
    try:
        checks["signing_key"] = "ok" if key_selectors.keyring().signing_key() is not None else "fail"
    except Exception:  # noqa: BLE001
        checks["signing_key"] = "fail"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)
