"""`tripguard serve`: optional ingest of a replay directory, then the HTTP service (uvicorn)."""

from __future__ import annotations

import copy
import logging
import re
import socket
from pathlib import Path

from tripguard.config.settings import Settings
from tripguard.errors import ConfigError
from tripguard.review.store.ingest import IngestReport, ingest_dir

_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")


class QueryValuesHidden(logging.Filter):
    """The access log shows a query's parameter names, never their values: a value may be a
    secret pasted where it does not belong (`?token=tg_...`) or personal data (a driver id).
    A name that does not look like a parameter name (a bare `?tg_...`) is hidden too."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path, _, query = args[2].partition("?")
            names = [p.partition("=")[0] for p in query.split("&") if p]
            shown = [f"{n}=*" if _PLAIN_NAME.fullmatch(n) and not n.startswith("tg_") else "*" for n in names]
            record.args = (args[0], args[1], f"{path}?{'&'.join(shown)}", *args[3:])
        return True


def log_config() -> dict:
    """uvicorn's logging, with query values kept out of the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["query_values_hidden"] = {"()": QueryValuesHidden}
    config["handlers"]["access"]["filters"] = ["query_values_hidden"]
    return config


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


def serve(
    settings: Settings, host: str, port: int, ingest: Path | None = None, log_level: str = "info", echo=print
) -> None:
    import uvicorn

    from tripguard.review.app import create_app
    from tripguard.review.store.db import init_db

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
        echo(
            f"consuming {settings.alerts_topic}, {settings.verdicts_topic} from {settings.bootstrap}; "
            f"decisions go to {settings.decisions_topic}"
        )
    if settings.forwarded_allow_ips:
        echo(f"trusting X-Forwarded-Proto/-For from {settings.forwarded_allow_ips}")
    echo(f"review service on http://{host}:{port}/review/ (API spec: /openapi.json), database {settings.db}")
    # Proxy headers are believed only from the configured proxies (off by default): anyone else
    # could claim https, or another client address.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(),
        server_header=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    uvicorn.Server(config).run(sockets=[sock])
