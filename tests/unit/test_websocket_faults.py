"""A subscriber that leaves while an event is being sent to it is not a fault to log."""

from __future__ import annotations

import logging

import pytest
from strawberry.http.exceptions import WebSocketDisconnected

from schema.websocket import TransportWS


async def test_a_client_gone_mid_send_is_not_logged_but_other_faults_are(
    caplog: pytest.LogCaptureFixture,
):
    handler = TransportWS.__new__(TransportWS)  # its task faults need nothing else of it
    with caplog.at_level(logging.ERROR):
        await handler.handle_task_exception(WebSocketDisconnected())
        assert caplog.records == []
        await handler.handle_task_exception(RuntimeError("a resolver failed"))
    assert [r.getMessage() for r in caplog.records] == ["Exception in worker task"]
    assert caplog.records[0].exc_info is not None
