"""The embedded redis-server (app/embedded_redis.py): stopping it leaves nothing behind."""

from __future__ import annotations

import signal
from pathlib import Path

from app.embedded_redis import EmbeddedRedis


def test_stop_after_the_server_was_killed_removes_its_socket(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    assert server.process is not None
    process = server.process
    process.send_signal(signal.SIGKILL)  # killed, it cannot remove its socket itself
    process.wait(timeout=10)
    assert server.socket.exists()

    server.stop()
    assert not server.socket.exists()
    assert server.process is None
