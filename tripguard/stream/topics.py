"""Topic admin: create tripguard's topics, check co-partitioning, the cluster's identity."""

from __future__ import annotations

from typing import cast

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tripguard.config.settings import Settings
from tripguard.errors import ConfigError
from tripguard.stream.changelog import CHANGELOG_CONFIGS


class MissingTopics(ConfigError):
    """A topic the worker reads or writes does not exist (yet)."""

    def __init__(self, message: str, topics: list[str]):
        super().__init__(message)
        self.topics = topics


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.pings_topic,
        settings.trips_topic,
        settings.alerts_topic,
        settings.verdicts_topic,
        settings.dlq_topic,
        settings.decisions_topic,
        settings.changelog_topic,
        settings.by_driver_topic,
        settings.driver_risk_topic,
        settings.risk_changelog_topic,
    ]


def co_partitioned_topics(settings: Settings) -> list[str]:
    """Partition p of each holds partition p's data: inputs keyed by trip_id, the state of
    input partition p (the changelog) in its partition p."""
    return [settings.pings_topic, settings.trips_topic, settings.changelog_topic]


async def create_topics(
    bootstrap: str, settings: Settings, partitions: int | None = None, only: list[str] | None = None
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. The co-partitioned
    topics (pings, trips, the state changelog) get the same partition count: the inputs' when
    they exist already (a changelog added to an older deployment), else `partitions`. The
    changelog is compacted (tripguard.stream.changelog.CHANGELOG_CONFIGS). `only`: just these."""
    n = partitions or settings.partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in (only or topic_names(settings)) if t not in existing]
        if settings.changelog_topic in wanted and settings.pings_topic in existing:
            described = {d["topic"]: d for d in await admin.describe_topics([settings.pings_topic])}
            n = len(described[settings.pings_topic]["partitions"]) or n
        created = []
        for name in wanted:
            configs = CHANGELOG_CONFIGS if name in (settings.changelog_topic, settings.risk_changelog_topic) else None
            try:
                await admin.create_topics(
                    [NewTopic(name, num_partitions=n, replication_factor=1, topic_configs=configs)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        # Only topics that exist are described: a Metadata request naming a missing topic asks the
        # broker to create it (aiokafka sets allow_auto_topic_creation), and Tansu does, with its
        # default partition count.
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
        return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0 and d["topic"] in wanted}
    finally:
        await admin.close()


async def check_copartitioned(bootstrap: str, settings: Settings) -> int:
    """The worker refuses to start unless pings, trips and the state changelog have the same
    partition count."""
    names = co_partitioned_topics(settings)
    counts = await partition_counts(bootstrap, names)
    missing = [t for t in names if t not in counts]
    if missing:
        raise MissingTopics(
            f"topic(s) {', '.join(missing)} do not exist on {bootstrap}: run `tripguard topics create`", missing
        )
    p, t = counts[settings.pings_topic], counts[settings.trips_topic]
    if p != t:
        raise ConfigError(
            f"{settings.pings_topic} has {p} partitions and {settings.trips_topic} has {t}: they must be equal "
            "so that one worker sees all of a trip (both are keyed by trip_id)"
        )
    c = counts[settings.changelog_topic]
    if c != p:
        raise ConfigError(
            f"{settings.changelog_topic} has {c} partitions and {settings.pings_topic} has {p}: they must be equal "
            "(partition p of the changelog holds the state of input partition p)"
        )
    return p


async def cluster_id(bootstrap: str) -> str | None:
    """The cluster's id (Metadata v2+). A restored state must come from this cluster."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return cast(str | None, (await admin.describe_cluster()).get("cluster_id"))
    finally:
        await admin.close()
