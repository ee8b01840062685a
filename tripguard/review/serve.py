"""`tripguard serve`: optional ingest of a replay directory, then the HTTP service (uvicorn)."""

from __future__ import annotations

import socket
from pathlib import Path

from tripguard.errors import ConfigError
from tripguard.review.ingest import IngestReport, ingest_dir
from tripguard.settings import Settings


def check_broker(settings: Settings) -> None:
    """Fail with one clear line, not a startup traceback, when the broker cannot be reached."""
    import asyncio

    from tripguard.review.kafka import make_producer

    async def probe() -> None:
        producer = make_producer(settings)
        try:
            await producer.start()
        finally:
            await producer.stop()

    try:
        asyncio.run(probe())
    except Exception as exc:
        raise ConfigError(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from None


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says the service is up: a taken port is then
    one error line, not a line after a success banner."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(settings: Settings, host: str, port: int, ingest: Path | None = None, log_level: str = "info",
          echo=print) -> None:
    import uvicorn

    from tripguard.review.app import create_app
    from tripguard.review.db import init_db

    sock = listen(host, port)
    port = sock.getsockname()[1]  # the one chosen, with --port 0
    init_db(settings.db)
    if settings.bootstrap:
        check_broker(settings)
    if ingest is not None:
        report: IngestReport = ingest_dir(settings.db, ingest)
        echo(f"ingested {ingest}: {report.summary()}")
    app = create_app(settings.db, settings, kafka=bool(settings.bootstrap))
    if settings.bootstrap:
        echo(f"consuming {settings.alerts_topic}, {settings.verdicts_topic} from {settings.bootstrap}; "
             f"decisions go to {settings.decisions_topic}")
    echo(f"review service on http://{host}:{port}/review/ (API spec: /openapi.json), database {settings.db}")
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
