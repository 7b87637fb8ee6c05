"""Prometheus metrics of one server (its own registry, so several servers can share a
process, as the tests do)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.orders = Counter(
            "exchange_orders", "Orders accepted by the engine", registry=registry
        )
        self.trades = Counter("exchange_trades", "Trades executed", registry=registry)
        self.rejects = Counter(
            "exchange_rejects", "Requests refused by the engine, by reason", ["reason"],
            registry=registry,
        )
        self.inbox_depth = Gauge(
            "exchange_inbox_depth", "Commands waiting in the engine inbox", registry=registry
        )
        self.overloaded = Counter(
            "exchange_overloaded", "Requests refused because the inbox was full",
            registry=registry,
        )
        self.batch_size = Histogram(
            "exchange_batch_size", "Commands per engine batch", buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.engine_seconds = Histogram(
            "exchange_engine_seconds", "Time the engine thread took per batch",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.commit_seconds = Histogram(
            "exchange_commit_seconds", "From handing a batch to the journal until durable",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.request_seconds = Histogram(
            "exchange_request_seconds", "HTTP request latency by route and status",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry,
        )

        self.ws_connections = Gauge(
            "exchange_ws_connections", "Open WebSocket connections", registry=registry
        )
        self.ws_messages = Counter(
            "exchange_ws_messages", "Market-data and private messages queued to WebSocket "
            "connections", registry=registry,
        )
        self.ws_frames = Counter(
            "exchange_ws_frames", "WebSocket frames sent (each one message or an array)",
            registry=registry,
        )
        self.deadlines = Counter(
            "exchange_request_deadlines", "Requests past their deadline: withdrawn before the "
            "engine took them (503), or executed but not yet durable (504)", ["outcome"],
            registry=registry,
        )
        self.ws_slow_consumers = Counter(
            "exchange_ws_slow_consumers", "WebSocket connections closed with 4008 (slow "
            "consumer)", registry=registry,
        )
        self.chaos_injections = Counter(
            "exchange_chaos_injections", "Injections of chaos mode, by kind (latency, "
            "reject, disconnect, stall)", ["kind"], registry=registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
