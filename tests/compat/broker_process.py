"""One `strom server` process under test: start, wait until it answers, stop, kill -9, restart.

Every test gets its own broker on a free 127.0.0.1 port with a fresh log directory, so tests never
see each other's topics. Readiness is an ApiVersions round trip (the broker listens last during
start-up, after recovery and metadata replay), polled against a deadline rather than slept on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import kafka_wire

START_DEADLINE_S = float(os.environ.get("STROM_START_TIMEOUT", "30"))
STOP_DEADLINE_S = 20.0
NODE_ID = 1


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerFailed(RuntimeError):
    """The broker did not start, or did not stop as asked; the message carries its log tail."""


class Broker:
    """A strom broker process. `bootstrap` is what clients connect to; `data_dir` is its log.dirs."""

    def __init__(self, binary: Path, workdir: Path, overrides: dict[str, str] | None = None,
                 env: dict[str, str] | None = None):
        self.binary = Path(binary)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.bootstrap = f"{self.host}:{self.port}"
        self.node_id = NODE_ID
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "broker.log"
        self.overrides = {
            "node.id": str(NODE_ID),
            "listeners": f"PLAINTEXT://{self.bootstrap}",
            "log.dirs": str(self.data_dir),
            **(overrides or {}),
        }
        self.env = dict(env or {})  # extra environment (fault injection, say)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(self.binary), "server"]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self) -> None:
        if self.running():
            raise BrokerFailed("start() called while the broker is running")
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir.parent,
                env={**os.environ, "NO_COLOR": "1", **self.env},  # plain text in broker.log
                start_new_session=True,
            )
        self.wait_until_ready()

    def wait_until_ready(self, deadline_s: float = START_DEADLINE_S) -> None:
        deadline = time.monotonic() + deadline_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BrokerFailed(
                    f"strom exited with status {self.proc.returncode} during start-up\n{self.log_tail()}"
                )
            try:
                with kafka_wire.connect(self.host, self.port, timeout_s=2.0) as conn:
                    conn.api_versions_v0()
                return
            except (OSError, kafka_wire.ProtocolError) as e:
                last_error = e
                time.sleep(0.05)
        raise BrokerFailed(
            f"strom did not answer ApiVersions on {self.bootstrap} within {deadline_s}s "
            f"(last error: {last_error!r})\n{self.log_tail()}"
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """Graceful shutdown (SIGTERM). Returns the exit status; raises if it does not exit in time."""
        if not self.running():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise BrokerFailed(f"strom ignored SIGTERM for {deadline_s}s and was killed\n{self.log_tail()}")

    def kill9(self) -> None:
        """Crash the broker: SIGKILL, no chance to flush or write a clean-shutdown marker."""
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=STOP_DEADLINE_S)

    def restart(self, graceful: bool = True) -> None:
        if graceful:
            status = self.stop()
            if status != 0:
                raise BrokerFailed(f"graceful stop exited with status {status}\n{self.log_tail()}")
        else:
            self.kill9()
        self.start()

    def cleanup(self) -> None:
        """Teardown: never leave a broker behind, whatever the test did."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=STOP_DEADLINE_S)

    # -- diagnostics -------------------------------------------------------------------------------

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        tail = text.splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)
