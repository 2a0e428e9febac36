from __future__ import annotations

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from custos.metrics import state_collector

from .selectors import key_states


@state_collector("keys")
def key_state():
    age = GaugeMetricFamily("custos_signing_key_age_seconds", "Age of the key that signs tokens now")
    published = GaugeMetricFamily("custos_jwks_keys", "Keys published in the JWKS")
    now = timezone.now()
    states = key_states()
    active = [k for k in states if k["state"] == "active"]
    age.add_metric([], (now - active[0]["activates_at"]).total_seconds() if active else -1)
    published.add_metric([], sum(1 for k in states if k["state"] in ("active", "next", "retired")))
    yield age
    yield published
