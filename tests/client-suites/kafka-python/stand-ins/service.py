"""Strom's stand-in for kafka-python's test/service.py, which the 3.0.12 sdist leaves out.

test/integration/fixtures.py imports ExternalService and SpawnedService. The client-suites runner
always names an existing broker (KAFKA_URI), so the fixtures only build an ExternalService, whose
methods have nothing to do. SpawnedService would start a Kafka installation, which Strom's runner
never has: it refuses with a message instead of pretending.
"""

__all__ = ["ExternalService", "SpawnedService"]


class ExternalService:
    """A broker that is already running at host:port (Strom, started by the runner)."""

    def __init__(self, host, port):
        self.host = host
        self.port = port

    def open(self):
        pass

    def close(self):
        pass

    def start(self):
        pass

    def stop(self):
        pass

    def dump_logs(self):
        pass

    def wait_for(self, pattern, timeout=30):
        return True


class SpawnedService:
    def __init__(self, args=None, env=None):
        raise RuntimeError(
            "the client-suites runner uses an existing broker: set KAFKA_URI "
            "(tests/client-suites/kafka-python/run does)"
        )
