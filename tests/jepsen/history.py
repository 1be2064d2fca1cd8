"""The history of one run: every event, numbered and timed, written to a JSON-lines file as it happens
(so a run that dies still leaves what it saw; a long run's history is not held in memory twice).
Threads append concurrently; the lock makes the file order the index order, and each thread's events
keep the order it recorded them in, which is the order the checker reads a consumer's polls in."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.file = open(path, "w", buffering=1 << 16)

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    def add(self, event_type: str, **fields) -> dict:
        with self.lock:
            event = {"index": self.count, "time": self.now(), "type": event_type, **fields}
            if not self.file.closed:  # a client thread still winding down after the run ended
                self.count += 1
                self.file.write(json.dumps(event) + "\n")
            return event

    def close(self) -> None:
        with self.lock:
            if not self.file.closed:
                self.file.close()

    @staticmethod
    def load(path: Path) -> list[dict]:
        """A history file back as events (a torn last line, from a run killed mid-write, is dropped)."""
        events = []
        with open(path) as f:
            for line in f:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    break
        return events
