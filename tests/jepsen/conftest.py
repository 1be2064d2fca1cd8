"""tests/jepsen imports tests/compat's cluster.py and kafka_wire.py, as run.py does."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat"))
