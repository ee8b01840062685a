"""Topic admin: create tripguard's topics, check co-partitioning."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tripguard.errors import ConfigError
from tripguard.settings import Settings


class MissingTopics(ConfigError):
    """The pings or trips topic does not exist (yet)."""


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.pings_topic,
        settings.trips_topic,
        settings.alerts_topic,
        settings.verdicts_topic,
        settings.dlq_topic,
        settings.decisions_topic,
    ]


async def create_topics(bootstrap: str, settings: Settings, partitions: int | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Pings and trips get
    the same partition count (co-partitioning by trip_id)."""
    n = partitions or settings.partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topic_names(settings) if t not in existing]
        created = []
        for name in wanted:
            try:
                await admin.create_topics([NewTopic(name, num_partitions=n, replication_factor=1)])
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
        described = await admin.describe_topics(topics)
        return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
    finally:
        await admin.close()


async def check_copartitioned(bootstrap: str, settings: Settings) -> int:
    """The worker refuses to start unless pings and trips have the same partition count."""
    counts = await partition_counts(bootstrap, [settings.pings_topic, settings.trips_topic])
    missing = [t for t in (settings.pings_topic, settings.trips_topic) if t not in counts]
    if missing:
        raise MissingTopics(f"topic(s) {', '.join(missing)} do not exist on {bootstrap}: run `tripguard topics create`")
    p, t = counts[settings.pings_topic], counts[settings.trips_topic]
    if p != t:
        raise ConfigError(
            f"{settings.pings_topic} has {p} partitions and {settings.trips_topic} has {t}: they must be equal "
            "so that one worker sees all of a trip (both are keyed by trip_id)"
        )
    return p
