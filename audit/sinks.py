"""Where the trail goes. A sink's send() returns only when the far side has acknowledged the
whole batch (publisher confirms, a 2xx, a bulk answer without item errors), and raises
otherwise: the export task then leaves the cursor where it was and the batch goes again
later. Delivery is at least once; every record carries the event's UUID as its idempotency
key (AMQP message_id, Elasticsearch _id, webhook event_id)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any

from .conf import conf


class Sink:
    name = ""

    def send(self, events: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class RabbitMQSink(Sink):
    """A durable topic exchange; routing key = action; persistent messages; publisher confirms."""

    name = "rabbitmq"

    def __init__(self) -> None:
        from kombu import Connection, Exchange

        self.exchange = Exchange(conf().amqp_exchange, type="topic", durable=True)
        self.conn = Connection(conf().amqp_url, transport_options={"confirm_publish": True},
                               connect_timeout=5)

    def send(self, events: list[dict[str, Any]]) -> None:
        self.conn.ensure_connection(max_retries=1)
        with self.conn.Producer(exchange=self.exchange) as producer:
            self.exchange(producer.channel).declare()
            for event in events:
                # with confirm_publish, publish() returns once the broker confirmed, raises on nack
                producer.publish(event, routing_key=event["action"], delivery_mode=2, serializer="json",
                                 message_id=event["event_id"],
                                 retry=False)

    def close(self) -> None:
        self.conn.release()


class WebhookSink(Sink):
    """POST {"events": [...]} signed: X-Custos-Signature: sha256=HMAC(secret, "<timestamp>.<body>")."""

    name = "webhook"

    def send(self, events: list[dict[str, Any]]) -> None:
        body = json.dumps({"events": events}, separators=(",", ":"), sort_keys=True).encode()
        ts = str(int(time.time()))
        sig = hmac.new(conf().webhook_secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Custos-Timestamp": ts, "X-Custos-Signature": f"sha256={sig}"}
        req = urllib.request.Request(conf().webhook_url, data=body, method="POST", headers=headers)  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - operator-configured URL
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"webhook answered {resp.status}")


class ElasticsearchSink(Sink):
    """The bulk API through the official client; `_id` = event UUID, so a resent batch
    overwrites instead of duplicating."""

    name = "elasticsearch"

    def __init__(self) -> None:
        from elasticsearch import Elasticsearch

        kwargs: dict[str, Any] = {"request_timeout": 10}
        if conf().es_api_key:
            kwargs["api_key"] = conf().es_api_key
        self.client = Elasticsearch(conf().es_url, **kwargs)

    def send(self, events: list[dict[str, Any]]) -> None:
        ops: list[dict[str, Any]] = []
        for event in events:
            ops.append({"index": {"_index": conf().es_index, "_id": event["event_id"]}})
            ops.append(event)
        answer = self.client.bulk(operations=ops)
        if answer.get("errors"):
            bad = [i for i in answer.get("items", []) if next(iter(i.values())).get("status", 500) >= 300]
            raise RuntimeError(f"elasticsearch refused {len(bad)} of {len(events)} documents")

    def close(self) -> None:
        self.client.close()


SINKS: dict[str, type[Sink]] = {"rabbitmq": RabbitMQSink, "webhook": WebhookSink, "elasticsearch": ElasticsearchSink}
