"""The `tripguard` command line. Flags mirror the Settings fields (TRIPGUARD_ environment prefix)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tripguard.errors import TripguardError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="Real-time GPS trip-fraud analyzer."
)


def _print_version(value: bool) -> None:
    if value:
        from tripguard import __version__

        typer.echo(f"tripguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Real-time GPS trip-fraud analyzer: replay, simulate, evaluate, run, serve."""
    from tripguard.config.settings import apply_numba_cache

    apply_numba_cache()


def fail(message: str, code: int = 2) -> None:
    """One-line reason on stderr, non-zero exit."""
    typer.echo(f"tripguard: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def schemas(
    write: bool = typer.Option(False, "--write", help="Write data/schemas/*.json instead of checking them."),
    directory: Path | None = typer.Option(None, "--dir", help="Schema directory (default: the shipped one)."),
) -> None:
    """Check the JSON Schema files of event contract v1 against the models (--write: write them)."""
    from tripguard.config.files import shipped_path
    from tripguard.offline.schemas import render_schemas, write_schemas

    target = directory or shipped_path("schemas")
    if write:
        for path in write_schemas(target):
            typer.echo(str(path))
        return
    stale = [f for f, text in render_schemas().items() if not (target / f).exists() or (target / f).read_text() != text]
    if stale:
        fail(f"schemas out of date: {', '.join(stale)} (run `tripguard schemas --write`)", 1)
    typer.echo("schemas up to date")


@app.command()
def replay(
    pings: Path = typer.Option(..., "--pings", help="Pings: JSONL (one message per line), CSV or Parquet."),
    trips: Path = typer.Option(..., "--trips", help="Trip events: JSONL, CSV or Parquet."),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    tariffs: Path | None = typer.Option(None, "--tariffs", help="TOML tariffs overriding the shipped ones."),
    cities: Path | None = typer.Option(None, "--cities", help="TOML city parameters overriding the shipped ones."),
    corridors: Path | None = typer.Option(None, "--corridors", help="Learned-corridor model (fit-corridors)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help="Progress bar on stderr."),
    decisions: Path | None = typer.Option(
        None,
        "--decisions",
        help="Reviewers' decisions (JSONL, values of tripguard.decisions) for the driver-risk stage.",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Processes: trips split by Kafka's default partitioner "
        "(the trip_id key), one engine each; the same alerts and verdicts as one.",
    ),
) -> None:
    """Run the streaming engine over files: writes alerts.jsonl, verdicts.jsonl, summary.json and
    driver_risk.jsonl (the driver-risk stage over the verdicts and the decisions)."""
    from functools import partial

    from tripguard.config.settings import load_settings
    from tripguard.engine.core import Engine
    from tripguard.io.replay import replay_workers
    from tripguard.runtime import tune_gc_for_throughput

    tune_gc_for_throughput()
    settings = load_settings(tariffs=tariffs, cities=cities, corridors=corridors)
    engine_factory = partial(Engine.from_settings, settings)
    result = replay_workers(pings, trips, out, workers, engine_factory, progress=progress, decisions=decisions)
    s = result.summary
    kinds = ", ".join(f"{k} {v}" for k, v in s["alerts_by_kind"].items() if v) or "none"
    typer.echo(
        f"{s['pings']} pings, {s['trips']} trips, {s['alerts']} alerts ({kinds}), "
        f"{s['dead_letters']} dead letters, {s['pings_per_s']:.0f} pings/s -> {out}"
    )


@app.command()
def evaluate(
    labels: Path = typer.Option(
        ...,
        "--labels",
        help="labels.csv: trip_id,kinds (kinds separated by ';'), optional "
        "base (the real trip a trip was made from: the unit the intervals resample).",
    ),
    alerts: Path = typer.Option(..., "--alerts", help="alerts.jsonl from replay or tail."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per-kind precision, recall and F1, honest trips with any alert (95 % intervals), and a
    confusion table of labelled kind x alerted kinds."""
    import json

    from tripguard.offline.evaluate import evaluate as run_evaluate
    from tripguard.offline.evaluate import format_table, read_alerted, read_labels

    labelled, base = read_labels(labels)
    report = run_evaluate(labelled, read_alerted(alerts), base, secondary=read_alerted(alerts, secondary=True))
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))


@app.command("fit-fare")
def fit_fare(
    trips: Path = typer.Option(..., "--trips", help="NYC TLC CSV, Chicago taxi CSV or tripguard verdicts.jsonl."),
    city: str = typer.Option(..., "--city", help="City name: the [CITY] table written and compared with."),
    out: Path | None = typer.Option(None, "--out", help="Write/replace the [CITY] tables in this tariffs TOML."),
    currency: str | None = typer.Option(None, "--currency", help="ISO 4217 code (default: the city's shipped tariff)."),
    tariffs: Path | None = typer.Option(None, "--tariffs", help="Tariffs TOML overriding the shipped ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Fit a city's tariff (base, per_km, per_min, minimum) and residual spread from historical trips."""
    from tripguard.fare.report import run_fit_fare

    typer.echo(run_fit_fare(trips=trips, city=city, out=out, currency=currency, tariffs=tariffs, as_json=as_json))


# ---- streaming (tripguard/stream/) ------------------------------------------------------------------

_BOOTSTRAP_HELP = "HOST:PORT of a Kafka broker (env TRIPGUARD_BOOTSTRAP)."


@app.command()
def run(
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help=_BOOTSTRAP_HELP + " None: start the embedded broker (Tansu, memory only) and create the topics.",
    ),
    group: str | None = typer.Option(None, "--group", help="Consumer group (env TRIPGUARD_GROUP)."),
    partitions: int | None = typer.Option(None, "--partitions", help="Partitions of topics this worker creates."),
    create_topics: bool | None = typer.Option(
        None, "--create-topics/--no-create-topics", help="Create missing topics, also after a broker restart."
    ),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Local cache of partition state (never shared; the changelog topic is the truth)."
    ),
    metrics_host: str | None = typer.Option(
        None,
        "--metrics-host",
        help="Address of /metrics and /healthz "
        "(env TRIPGUARD_METRICS_HOST, default 127.0.0.1; 0.0.0.0: every "
        "interface).",
    ),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="/metrics and /healthz; 0 = any free port."),
    batch_max_records: int | None = typer.Option(None, "--batch-max-records", help="Records per fetch."),
    batch_max_ms: int | None = typer.Option(None, "--batch-max-ms", help="Longest wait for a fetch, ms."),
    pause_close_s: float | None = typer.Option(
        None, "--pause-close-s", help="Input pause after which ended trips close without waiting for event time."
    ),
    checkpoint_interval_s: float | None = typer.Option(
        None, "--checkpoint-interval-s", help="Seconds between checkpoints."
    ),
    idempotent_producer: bool | None = typer.Option(
        None,
        "--idempotent-producer/--no-idempotent-producer",
        help="Idempotent producer (Apache Kafka; Tansu refuses it).",
    ),
    tariffs: Path | None = typer.Option(None, "--tariffs", help="TOML tariffs overriding the shipped ones."),
    cities: Path | None = typer.Option(None, "--cities", help="TOML city parameters overriding the shipped ones."),
    corridors: Path | None = typer.Option(None, "--corridors", help="Learned-corridor model (fit-corridors)."),
    end_grace_s: float | None = typer.Option(
        None, "--end-grace-s", help="Event time a trip stays open after trip_ended."
    ),
    idle_timeout_s: float | None = typer.Option(
        None, "--idle-timeout-s", help="Event time without news after which a trip closes."
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING."),
) -> None:
    """The streaming worker: pings + trips in, alerts, verdicts and dead letters out (a consumer group member)."""
    import asyncio

    from tripguard.config.settings import load_settings
    from tripguard.stream.service import configure_logging, run_worker

    settings = load_settings(
        bootstrap=bootstrap,
        group=group,
        partitions=partitions,
        create_topics=create_topics,
        state_dir=state_dir,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        batch_max_records=batch_max_records,
        batch_max_ms=batch_max_ms,
        pause_close_s=pause_close_s,
        checkpoint_interval_s=checkpoint_interval_s,
        idempotent_producer=idempotent_producer,
        tariffs=tariffs,
        cities=cities,
        corridors=corridors,
        end_grace_s=end_grace_s,
        idle_timeout_s=idle_timeout_s,
    )
    configure_logging(log_level)
    raise typer.Exit(asyncio.run(run_worker(settings)))


@app.command()
def risk(
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help=_BOOTSTRAP_HELP + " None: start the embedded broker (Tansu, memory only) and create the topics.",
    ),
    group: str | None = typer.Option(
        None, "--group", help="Consumer group (env TRIPGUARD_RISK_GROUP, default tripguard.risk)."
    ),
    create_topics: bool | None = typer.Option(
        None, "--create-topics/--no-create-topics", help="Create missing topics at start."
    ),
    batch_max_ms: int | None = typer.Option(None, "--batch-max-ms", help="Longest wait for a fetch, ms."),
    checkpoint_interval_s: float | None = typer.Option(
        None, "--checkpoint-interval-s", help="Seconds between checkpoints."
    ),
    cities: Path | None = typer.Option(None, "--cities", help="TOML city parameters overriding the shipped ones."),
    end_grace_s: float | None = typer.Option(
        None, "--end-grace-s", help="The trip stage's end grace (the stage waits for it)."
    ),
    idle_timeout_s: float | None = typer.Option(
        None, "--idle-timeout-s", help="The trip stage's idle timeout (the stage waits for it)."
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING."),
) -> None:
    """The driver-risk stage: verdicts + decisions in, by driver, driver_risk events and dead letters out."""
    import asyncio

    from tripguard.config.settings import load_settings
    from tripguard.stream.risk_worker import run_risk
    from tripguard.stream.service import configure_logging

    settings = load_settings(
        bootstrap=bootstrap,
        risk_group=group,
        create_topics=create_topics,
        batch_max_ms=batch_max_ms,
        checkpoint_interval_s=checkpoint_interval_s,
        cities=cities,
        end_grace_s=end_grace_s,
        idle_timeout_s=idle_timeout_s,
    )
    configure_logging(log_level)
    raise typer.Exit(asyncio.run(run_risk(settings)))


topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics of tripguard.")
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def topics_create(
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=_BOOTSTRAP_HELP),
    partitions: int | None = typer.Option(
        None, "--partitions", help="Partitions per topic (env TRIPGUARD_PARTITIONS, default 4)."
    ),
) -> None:
    """Create the topics that do not exist yet: pings, trips, alerts, verdicts, dlq, decisions, the state
    changelog, and the driver-risk stage's by-driver, driver-risk and risk changelog."""
    from tripguard.config.settings import load_settings
    from tripguard.stream.service import require_bootstrap, run_client
    from tripguard.stream.topics import check_copartitioned, create_topics, topic_names

    settings = load_settings(bootstrap=bootstrap, partitions=partitions)
    target = require_bootstrap(settings)

    async def go():
        created = await create_topics(target, settings)
        return created, await check_copartitioned(target, settings)

    created, n = run_client(go(), target)
    existing = [t for t in topic_names(settings) if t not in created]
    typer.echo(
        f"created: {', '.join(created) or 'none'}; already there: {', '.join(existing) or 'none'}; "
        f"pings, trips and the state changelog have {n} partitions each"
    )


@app.command()
def produce(
    pings: Path = typer.Option(..., "--pings", help="Pings: JSONL, CSV or Parquet (as for replay)."),
    trips: Path = typer.Option(..., "--trips", help="Trip events: JSONL, CSV or Parquet."),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=_BOOTSTRAP_HELP),
    rate: float | None = typer.Option(
        None, "--rate", min=0.001, help="Pings per second (default: as fast as possible)."
    ),
) -> None:
    """Send replay's inputs to the pings and trips topics, merged on ts as replay reads them, keyed by trip_id."""
    from tripguard.config.settings import load_settings
    from tripguard.stream.produce import produce as run_produce
    from tripguard.stream.service import require_bootstrap, run_client

    settings = load_settings(bootstrap=bootstrap)
    target = require_bootstrap(settings)
    summary = run_client(run_produce(target, settings, pings, trips, rate), target)
    typer.echo(summary.line())


@app.command()
def tail(
    topic: str = typer.Option(..., "--topic", help="Topic to read, e.g. tripguard.alerts or tripguard.dlq."),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=_BOOTSTRAP_HELP),
    count: int | None = typer.Option(None, "--count", min=1, help="Stop after this many messages."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.0, help="Stop when no message came for this many seconds (default: follow)."
    ),
    envelope: bool = typer.Option(
        False, "--envelope", help="Wrap every message with key, headers, partition and offset (always on for the DLQ)."
    ),
) -> None:
    """Print a topic's messages from the beginning as JSON lines (the DLQ with its headers)."""
    from tripguard.config.settings import load_settings
    from tripguard.stream.service import require_bootstrap, run_client
    from tripguard.stream.tail import tail as run_tail

    settings = load_settings(bootstrap=bootstrap)
    out = sys.stdout.buffer

    def write(line: bytes) -> None:
        out.write(line)
        out.flush()

    target = require_bootstrap(settings)
    run_client(
        run_tail(target, topic, write, count=count, timeout_s=timeout, wrap=envelope or topic == settings.dlq_topic),
        target,
    )


@app.command()
def demo(
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=_BOOTSTRAP_HELP + " None: the embedded broker."),
    trips: int = typer.Option(60, "--trips", min=1, help="Simulated Porto trips (30 % with injected fraud)."),
    rate: float = typer.Option(300.0, "--rate", min=1.0, help="Pings per second sent to the broker."),
    seed: int = typer.Option(0, "--seed", help="Simulator seed."),
    metrics_port: int = typer.Option(0, "--metrics-port", help="Worker /metrics and /healthz; 0 = any free port."),
    pause_close_s: float = typer.Option(3.0, "--pause-close-s", help="Quiet time after which ended trips close."),
) -> None:
    """The streaming pipeline live: broker, worker, simulated traffic, alerts printed as they happen."""
    import asyncio

    from rich.console import Console

    from tripguard.config.settings import load_settings
    from tripguard.stream.demo import demo as run_demo
    from tripguard.stream.service import configure_logging

    settings = load_settings(bootstrap=bootstrap, metrics_port=metrics_port, pause_close_s=pause_close_s)
    configure_logging("INFO")
    raise typer.Exit(asyncio.run(run_demo(settings, trips, rate, seed, Console())))


@app.command("fit-corridors")
def fit_corridors(
    trips: Path = typer.Option(
        ...,
        "--trips",
        help="Historical trips: verdicts.jsonl (unflagged trips) or a "
        "CSV with a POLYLINE of [lon, lat] (Porto layout).",
    ),
    out: Path = typer.Option(..., "--out", help="Model file to write (Parquet)."),
    od_res: int = typer.Option(6, "--od-res", min=0, max=15, help="H3 resolution of origin and destination cells."),
    cell_res: int = typer.Option(9, "--cell-res", min=0, max=15, help="H3 resolution of the cells trips pass."),
) -> None:
    """Learn which H3 cells honest trips between an origin and a destination cell use."""
    from tripguard.detectors.learned_corridors import fit

    table = fit(trips, od_res=od_res, cell_res=cell_res)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out)
    pairs = table.filter(table["cell"] == 0)
    typer.echo(
        f"{int(pairs['trips'].sum())} trips, {pairs.height} origin-destination pairs "
        f"({int((pairs['trips'] >= 5).sum())} with >= 5 trips), {table.height - pairs.height} cell rows -> {out}"
    )


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Output directory: pings.jsonl, trips.jsonl, labels.csv."),
    trips: int | None = typer.Option(
        None, "--trips", help="Trips to simulate (default 1000); with --from-real, at most this many."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same files."),
    fraud_rate: float | None = typer.Option(
        None,
        "--fraud-rate",
        help="Share of trips with fraud, split evenly "
        "across the kinds (default 0.3); with --fleet, the occasional fraud "
        "of the drivers who are not repeat offenders (default 0.005).",
    ),
    kinds: str | None = typer.Option(None, "--kinds", help="Comma-separated fraud kinds to inject (default: all six)."),
    from_real: Path | None = typer.Option(
        None, "--from-real", help="Porto taxi CSV (POLYLINE of [lon, lat] every 15 s) as the honest base."
    ),
    interval_s: float | None = typer.Option(
        None, "--interval-s", help="Synthetic fix interval in seconds (default 4)."
    ),
    start_ts: int | None = typer.Option(
        None, "--start-ts", help="First pickup, ms since the Unix epoch (default fixed: 1717398000000)."
    ),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        help="About this many trips run at the same "
        "time (default 200; with --fleet N, N / 4: drivers do not all work "
        "all the time).",
    ),
    plan: str = typer.Option(
        "fastest",
        "--plan",
        help="Real trips' planned route from the pickup to the dropoff on "
        "the road network: fastest (as apps plan) or shortest (by length).",
    ),
    split: str = typer.Option(
        "all",
        "--split",
        help="Real trips: only the tune or the eval part of the file "
        "(fixed by TRIP_ID; parameters are chosen on tune, figures reported on eval).",
    ),
    fleet: int | None = typer.Option(
        None,
        "--fleet",
        help="A fleet of this many drivers with many trips each (--trips in all); writes drivers.csv too.",
    ),
    repeat_offenders: float = typer.Option(
        0.0,
        "--repeat-offenders",
        help="With --fleet: the share of drivers who commit fraud again and again (serial, skimmer or sharer).",
    ),
) -> None:
    """Simulate Porto trips with labelled fraud and real GPS noise (event contract v1)."""
    from tripguard.contract import ALERT_KINDS
    from tripguard.simulate.simulator import DEFAULT_START_TS_MS, SimConfig
    from tripguard.simulate.simulator import simulate as run

    cfg = SimConfig(
        out_dir=out,
        trips=trips,
        seed=seed,
        fraud_rate=(0.005 if fleet is not None else 0.3) if fraud_rate is None else fraud_rate,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds is not None else ALERT_KINDS,
        from_real=from_real,
        interval_s=interval_s,
        start_ts_ms=DEFAULT_START_TS_MS if start_ts is None else start_ts,
        concurrency=(max(1, fleet // 4) if fleet is not None else 200) if concurrency is None else concurrency,
        plan=plan,
        split=split,
        fleet=fleet,
        repeat_offenders=repeat_offenders,
    )
    summary = run(cfg, progress=True)
    for line in summary.lines():
        typer.echo(line, err=True)
    typer.echo(
        f"wrote {out / 'pings.jsonl'}, {out / 'trips.jsonl'}, {out / 'labels.csv'}"
        + (f", {out / 'drivers.csv'}" if fleet is not None else ""),
        err=True,
    )


@app.command()
def tune(
    decisions: Path = typer.Option(
        ..., "--decisions", help="Reviewers' decisions (JSONL, tripguard.decisions values)."
    ),
    alerts: Path = typer.Option(
        ...,
        "--alerts",
        help="The alerts they decided on (alerts.jsonl of replay, or the "
        "tripguard.alerts values): their kinds and scores.",
    ),
    out: Path = typer.Option(..., "--out", help="The cities.toml override to write (pass it with --cities to use it)."),
    target: float = typer.Option(0.8, "--target", min=0.0, max=1.0, help="Precision each kind's alerts should keep."),
    min_decided: int = typer.Option(20, "--min-decided", min=1, help="Fewer decided alerts of a kind: unchanged."),
    min_kept: int = typer.Option(5, "--min-kept", min=1, help="A threshold keeps at least this many decided alerts."),
    cities: Path | None = typer.Option(
        None, "--cities", help="TOML city parameters overriding the shipped ones (the values the proposal starts from)."
    ),
) -> None:
    """Per city and kind: the precision of the decided alerts and the score threshold that keeps it at
    --target; writes a cities.toml override with that evidence (nothing changes until it is passed)."""
    from tripguard.config.files import CityTables
    from tripguard.risk.tune import override_text
    from tripguard.risk.tune import tune as run

    tables = CityTables.load(cities)
    evidence = run(decisions, alerts, tables, target, min_decided, min_kept)
    if not evidence:
        fail(f"--decisions {decisions}: no decision names an alert of --alerts {alerts}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(override_text(evidence, decisions, alerts, target, min_decided, min_kept, tables.source))
    except OSError as exc:
        fail(f"--out {out}: cannot write ({exc.strerror})")
    for e in evidence:
        typer.echo(f"{e.city} {e.kind}: {e.why}")
    typer.echo(f"wrote {out} (use it with --cities {out})")


@app.command("simulate-reviews")
def simulate_reviews(
    labels: Path = typer.Option(..., "--labels", help="labels.csv of `tripguard simulate`."),
    alerts: Path = typer.Option(..., "--alerts", help="alerts.jsonl of `tripguard replay` on that simulation."),
    out: Path = typer.Option(..., "--out", help="decisions.jsonl to write (values of tripguard.decisions)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same decisions."),
    dispute_wrong: float = typer.Option(
        0.8,
        "--dispute-wrong",
        min=0.0,
        max=1.0,
        help="P(a driver disputes a trip none of whose alert kinds is what really happened).",
    ),
    dispute_right: float = typer.Option(
        0.2,
        "--dispute-right",
        min=0.0,
        max=1.0,
        help="P(a driver disputes a trip that really was one of its alert kinds).",
    ),
    reviewer_accuracy: float = typer.Option(
        0.95, "--reviewer-accuracy", min=0.0, max=1.0, help="P(a reviewer decides right)."
    ),
) -> None:
    """Disputes and reviewers' decisions for a simulated run, from its labels (for replay --decisions and tune)."""
    from tripguard.io.codec import dumps
    from tripguard.simulate.reviews import ReviewModel
    from tripguard.simulate.reviews import simulate_reviews as run

    decisions = run(labels, alerts, seed, ReviewModel(dispute_wrong, dispute_right, reviewer_accuracy))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(dumps(d) + b"\n" for d in decisions))
    upheld = sum(1 for d in decisions if d["decision"] == "upheld")
    typer.echo(f"{len(decisions)} decisions ({upheld} upheld, {len(decisions) - upheld} overturned) -> {out}")


@app.command()
def serve(
    db: Path | None = typer.Option(None, "--db", help="SQLite database file (env TRIPGUARD_DB)."),
    ingest: Path | None = typer.Option(
        None, "--ingest", help="Replay output directory to load first (alerts.jsonl, verdicts.jsonl); idempotent."
    ),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help="HOST:PORT of Kafka: consume alerts and "
        "verdicts, publish decisions (env TRIPGUARD_BOOTSTRAP). None = no Kafka.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Believe X-Forwarded-Proto/-For from these reverse proxies: comma-separated "
        "IPs or CIDR ranges, '*' = any (env TRIPGUARD_FORWARDED_ALLOW_IPS). Default: the headers are ignored.",
    ),
    cookie_secure: bool | None = typer.Option(
        None,
        "--cookie-secure/--no-cookie-secure",
        help="Always mark the session cookie Secure, for a TLS proxy in "
        "front (env TRIPGUARD_COOKIE_SECURE). Default: Secure when the request came over https.",
    ),
) -> None:
    """The review service: HTTP API (roles backend, reviewer, admin) and the review page."""
    from tripguard.config.settings import load_settings
    from tripguard.review.serve import serve as run

    settings = load_settings(
        db=db, bootstrap=bootstrap, forwarded_allow_ips=forwarded_allow_ips, cookie_secure=cookie_secure
    )
    run(settings, host, port, ingest=ingest, echo=typer.echo)


token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the review service.")
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="backend, reviewer or admin."),
    label: str = typer.Option("", "--label", help="Who or what holds it."),
    db: Path | None = typer.Option(None, "--db", help="SQLite database file (env TRIPGUARD_DB)."),
) -> None:
    """Create a token. It is printed once, as the last word of the output; only its hash is kept."""
    from tripguard.config.settings import load_settings
    from tripguard.review.store.db import init_db, opened
    from tripguard.review.store.tokens import CLI, ROLES, create_token

    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    settings = load_settings(db=db)
    init_db(settings.db)
    with opened(settings.db) as conn:
        try:
            token_id, token = create_token(conn, role, label, CLI)
        except ValueError as exc:
            fail(str(exc))
    typer.echo(f"created {role} token #{token_id} in {settings.db}; it is shown only now: {token}")


@token_app.command("list")
def token_list(db: Path | None = typer.Option(None, "--db", help="SQLite database file (env TRIPGUARD_DB).")) -> None:
    """List tokens (id, role, label, created, revoked); never the secrets."""
    from tripguard.config.settings import load_settings
    from tripguard.review.pages.evidence_html import utc_ms
    from tripguard.review.store.db import init_db, opened
    from tripguard.review.store.tokens import list_tokens
    from tripguard.review.text import visible

    settings = load_settings(db=db)
    init_db(settings.db)
    with opened(settings.db) as conn:
        for t in list_tokens(conn):
            revoked = f"revoked {utc_ms(t['revoked_at'])}" if t["revoked_at"] else "active"
            typer.echo(f"#{t['id']}\t{t['role']}\t{revoked}\tcreated {utc_ms(t['created_at'])}\t{visible(t['label'])}")


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., help="The token's id (see `tripguard token list`)."),
    db: Path | None = typer.Option(None, "--db", help="SQLite database file (env TRIPGUARD_DB)."),
) -> None:
    """Revoke a token at once."""
    from tripguard.config.settings import load_settings
    from tripguard.review.errors import NotFound
    from tripguard.review.store.db import init_db, opened
    from tripguard.review.store.tokens import CLI, revoke_token

    settings = load_settings(db=db)
    init_db(settings.db)
    with opened(settings.db) as conn:
        try:
            revoke_token(conn, token_id, CLI)
        except NotFound as exc:
            fail(str(exc))
    typer.echo(f"revoked token #{token_id}")


@app.command()
def bench(
    quick: bool = typer.Option(False, "--quick", help="Smaller data: a smoke run."),
    only: str = typer.Option("", "--only", help="Comma-separated: kinematics,h3,engine,stream,startup."),
) -> None:
    """Run the benchmarks (a checkout's benchmarks/) and write benchmarks/results/."""
    import subprocess

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "run_all.py"
    if not script.exists():
        fail(f"no benchmarks/ next to this installation ({script}): run it from a checkout")
    args = [sys.executable, str(script)] + (["--quick"] if quick else []) + (["--only", only] if only else [])
    raise typer.Exit(subprocess.run(args).returncode)


def main() -> None:
    """The one place where errors become one line on stderr and exit status 2: a command-line
    mistake (click's usage errors), a TripguardError (raised on purpose, with the reason) and an
    OSError naming a path the user gave."""
    try:
        code = app(standalone_mode=False)  # click's own handling prints a usage block, not one line
    except typer.TyperException as exc:  # click's errors (typer vendors click; this is their public base)
        message = exc.format_message()
        if "\n" in message:  # no arguments at all: the message is the help text
            typer.echo(message, err=True)
        else:
            ctx = getattr(exc, "ctx", None)
            typer.echo(f"tripguard: {message}" + (f" (see `{ctx.command_path} --help`)" if ctx else ""), err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except TripguardError as exc:
        typer.echo(f"tripguard: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.filename is None:  # not about a path: a bug, keep the traceback
            raise
        typer.echo(f"tripguard: {exc.filename}: {exc.strerror}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
