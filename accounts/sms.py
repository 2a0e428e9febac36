"""SMS backends. The console one prints (the embedded default); the HTTP one posts JSON to a
gateway. Both take (phone in E.164, text)."""
from __future__ import annotations

import json
import logging
import sys
import urllib.request

from django.utils.module_loading import import_string

from .conf import conf

log = logging.getLogger("custos.sms")


class SmsBackend:
    def send(self, to: str, text: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(SmsBackend):
    def send(self, to: str, text: str) -> None:
        sys.stdout.write(f"--- SMS to {to} ---\n{text}\n")
        sys.stdout.flush()


class HttpSmsBackend(SmsBackend):
    """POST {"to", "text"} with a bearer token to CUSTOS_SMS_HTTP_URL; 2xx means accepted."""

    def send(self, to: str, text: str) -> None:
        url = conf().sms_http_url
        if not url:
            raise RuntimeError("CUSTOS_SMS_HTTP_URL is not set")
        body = json.dumps({"to": to, "text": text}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {conf().sms_http_token}"}
        req = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - operator's URL
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - operator-configured URL
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"SMS gateway answered {resp.status}")


class MemorySmsBackend(SmsBackend):
    """For tests: remembers what it sent."""

    outbox: list[tuple[str, str]] = []

    def send(self, to: str, text: str) -> None:
        MemorySmsBackend.outbox.append((to, text))


def backend() -> SmsBackend:
    return import_string(conf().sms_backend)()
