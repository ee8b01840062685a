"""The worker's /metrics and /healthz endpoint listens on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from tripguard.config.settings import Settings
from tripguard.stream.worker import Worker


@pytest.mark.parametrize("host, expected", [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_worker_endpoint_binds_the_configured_address(tmp_path, host, expected):
    settings = Settings(state_dir=tmp_path, metrics_port=0, **({"metrics_host": host} if host else {}))
    worker = Worker(settings, "127.0.0.1:1")  # no broker needed: the endpoint alone is started

    async def bound() -> tuple[str, bytes]:
        port = await worker.http.start()
        try:
            address = worker.http.server.sockets[0].getsockname()[0]
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            )
            return address, body
        finally:
            await worker.http.stop()

    address, body = asyncio.run(bound())
    assert address == expected
    assert b"tripguard_pings" in body
