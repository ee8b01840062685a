"""Prometheus metrics and the /metrics + /healthz HTTP endpoint of the worker.

One registry per worker (not the process-global one), served by a tiny asyncio HTTP server so
the endpoint lives on the worker's own event loop and /healthz can tell whether that loop turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tripguard.contract import ALERT_KINDS

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.pings = Counter("tripguard_pings", "Pings given to the engine (rate() = pings/s).", registry=r)
        self.trip_events = Counter("tripguard_trip_events", "Trip events given to the engine.", registry=r)
        self.records = Counter("tripguard_records", "Kafka records read.", ["topic"], registry=r)
        self.alerts = Counter("tripguard_alerts", "Alerts emitted, by kind.", ["kind"], registry=r)
        for kind in ALERT_KINDS:
            self.alerts.labels(kind)
        self.verdicts = Counter("tripguard_verdicts", "Verdicts emitted (trips closed).", registry=r)
        self.dlq = Counter("tripguard_dlq", "Messages sent to the dead-letter topic.", ["source_topic"], registry=r)
        self.batch_seconds = Histogram(
            "tripguard_batch_seconds", "Engine time per micro-batch.", buckets=_LATENCY_BUCKETS_S, registry=r
        )
        self.ping_to_alert_seconds = Histogram(
            "tripguard_ping_to_alert_seconds",
            "Alert detected_at minus the Kafka timestamp of the record that revealed it.",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.lag = Gauge(
            "tripguard_consumer_lag", "Highwater minus the next offset to read.", ["topic", "partition"], registry=r
        )
        self.trips_in_state = Gauge(
            "tripguard_trips_in_state", "Live trips held by the engine.", ["partition"], registry=r
        )
        self.buffered = Gauge(
            "tripguard_aligner_buffered", "Records held by the event-time aligner.", ["partition"], registry=r
        )
        self.owned = Gauge(
            "tripguard_partition_owned", "1 for each input partition this worker owns.", ["partition"], registry=r
        )
        self.checkpoint_seconds = Histogram(
            "tripguard_checkpoint_seconds",
            "Checkpoint: deliveries awaited, state persisted, offsets committed.",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.checkpoints_failed = Counter(
            "tripguard_checkpoints_failed",
            "Checkpoints skipped (deliveries not confirmed); state and offsets stay at the previous one.",
            registry=r,
        )
        self.batch_errors = Counter(
            "tripguard_batch_errors",
            "Micro-batches that raised; the partition is rewound to its last checkpoint.",
            registry=r,
        )
        self.broker_errors = Counter("tripguard_broker_errors", "Kafka errors the worker recovered from.", registry=r)
        self.pause_closes = Counter(
            "tripguard_pause_closes",
            "Trips closed early because the input paused (wall clock) after their trip_ended.",
            registry=r,
        )
        self.late_after_close = Counter(
            "tripguard_pings_late_after_close",
            "Rows of trips already closed (counted, not in any verdict).",
            registry=r,
        )
        self.delivery_retries = Counter(
            "tripguard_delivery_retries", "Output messages re-sent after a failed delivery.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HttpEndpoint:
    """GET /metrics (Prometheus text) and GET /healthz (JSON; 503 when the loop has stalled)."""

    def __init__(
        self,
        metrics: WorkerMetrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.metrics, self.health, self.host, self.port = metrics, health, host, port
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if path == "/metrics":
                status, ctype, body = 200, CONTENT_TYPE_LATEST, self.metrics.render()
            elif path == "/healthz":
                ok, doc = self.health()
                status, ctype, body = (200 if ok else 503), "application/json", orjson.dumps(doc)
            else:
                status, ctype, body = 404, "text/plain", b"not found: try /metrics or /healthz\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
