"""max.connection.creation.rate (KIP-612), broker-wide and per listener
(listener.name.<l>.max.connection.creation.rate): above the rate Kafka's acceptor waits before it
serves the next connection; no connection is refused. The rate is measured as Kafka measures
it, over quota.window.num windows of quota.window.size.seconds: with 2 windows of 1 s the first
second's worth of connections is free, then connections are served at the rate.
"""

from __future__ import annotations

import time

import pytest

import kafka_wire as kw

RATE = 10
CONNECTIONS = 40
FAST_WINDOWS = {"quota.window.num": "2", "quota.window.size.seconds": "1"}


def served_one(broker) -> float:
    """Opens a connection, has one ApiVersions answered, closes it; the time it was answered."""
    with kw.connect(broker.host, broker.port, timeout_s=10.0) as conn:
        assert conn.api_versions_v0().error_code == 0
    return time.monotonic()


@pytest.mark.parametrize("key", ["max.connection.creation.rate",
                                 "listener.name.plaintext.max.connection.creation.rate"])
def test_connections_above_the_creation_rate_are_delayed_not_refused(broker_factory, key):
    broker = broker_factory({key: str(RATE), **FAST_WINDOWS})
    start = time.monotonic()
    answered = [served_one(broker) for _ in range(CONNECTIONS)]
    # Every connection was served (delayed, not refused). The first second's worth came at
    # once; the rest at the rate: (CONNECTIONS - RATE) / RATE seconds at least.
    burst_end = answered[RATE - 1] - start
    assert burst_end < 1.0, f"the first {RATE} connections took {burst_end:.2f}s"
    later = answered[-1] - answered[RATE - 1]
    rate = (CONNECTIONS - RATE) / later
    # Kafka's sensor bound, with its rounding: at most 15% above; a loaded machine may be slower.
    assert RATE * 0.5 <= rate <= RATE * 1.15, f"{rate:.1f} connections/s after the burst"


def test_without_a_creation_rate_connections_are_not_delayed(broker_factory):
    broker = broker_factory(FAST_WINDOWS)
    start = time.monotonic()
    for _ in range(CONNECTIONS):
        served_one(broker)
    assert time.monotonic() - start < 3.0
