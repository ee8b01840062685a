"""The embedded broker is real: topics, produce and consume through the Kafka protocol."""

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tripguard.config.settings import Settings
from tripguard.errors import ConfigError
from tripguard.stream.changelog import CHANGELOG_CONFIGS
from tripguard.stream.topics import check_copartitioned, create_topics, partition_counts

pytestmark = pytest.mark.kafka


def test_create_topics_and_roundtrip(kafka_bootstrap, run_async):
    settings = Settings(
        pings_topic="t.rt.pings",
        trips_topic="t.rt.trips",
        alerts_topic="t.rt.alerts",
        verdicts_topic="t.rt.verdicts",
        dlq_topic="t.rt.dlq",
        decisions_topic="t.rt.decisions",
        changelog_topic="t.rt.changelog",
        by_driver_topic="t.rt.by-driver",
        driver_risk_topic="t.rt.driver-risk",
        risk_changelog_topic="t.rt.risk-changelog",
    )

    async def scenario():
        created = await create_topics(kafka_bootstrap, settings, partitions=3)
        assert set(created) == {
            "t.rt.pings",
            "t.rt.trips",
            "t.rt.alerts",
            "t.rt.verdicts",
            "t.rt.dlq",
            "t.rt.decisions",
            "t.rt.changelog",
            "t.rt.by-driver",
            "t.rt.driver-risk",
            "t.rt.risk-changelog",
        }
        assert await topic_config(kafka_bootstrap, "t.rt.changelog") == CHANGELOG_CONFIGS  # compacted
        assert (await topic_config(kafka_bootstrap, "t.rt.pings")).get("cleanup.policy") != "compact"
        assert await create_topics(kafka_bootstrap, settings, partitions=3) == []  # idempotent
        assert await check_copartitioned(kafka_bootstrap, settings) == 3
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(50):
                await producer.send_and_wait("t.rt.pings", key=f"trip-{i % 7}".encode(), value=b"%d" % i)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "t.rt.pings",
            bootstrap_servers=kafka_bootstrap,
            group_id="t-rt",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            got = []
            while len(got) < 50:
                batch = await consumer.getmany(timeout_ms=2000)
                assert batch, "broker returned nothing within 2 s"
                for records in batch.values():
                    got.extend(int(r.value) for r in records)
            assert sorted(got) == list(range(50))
        finally:
            await consumer.stop()

    run_async(scenario())


def test_refuses_different_partition_counts(kafka_bootstrap, run_async):
    a = Settings(pings_topic="t.cp.pings", trips_topic="t.cp.trips", changelog_topic="t.cp.changelog")
    b = Settings(pings_topic="t.cp.other", trips_topic="t.cp.trips", changelog_topic="t.cp.changelog")

    async def scenario():
        await create_topics(kafka_bootstrap, a, partitions=2)
        await create_topics(kafka_bootstrap, b.model_copy(update={"trips_topic": "t.cp.trips"}), partitions=3)
        counts = await partition_counts(kafka_bootstrap, ["t.cp.other", "t.cp.trips"])
        assert counts == {"t.cp.other": 3, "t.cp.trips": 2}
        with pytest.raises(ConfigError, match="must be equal"):
            await check_copartitioned(kafka_bootstrap, b)

    run_async(scenario())


def test_refuses_a_changelog_with_another_partition_count(kafka_bootstrap, run_async):
    settings = Settings(pings_topic="t.cl.pings", trips_topic="t.cl.trips", changelog_topic="t.cl.changelog")

    async def scenario():
        await create_topics(
            kafka_bootstrap,
            settings.model_copy(update={"pings_topic": "t.cl.x", "trips_topic": "t.cl.y"}),
            partitions=2,
        )
        await create_topics(kafka_bootstrap, settings, partitions=3)  # the changelog exists with 2
        with pytest.raises(ConfigError, match="t.cl.changelog has 2 partitions and t.cl.pings has 3"):
            await check_copartitioned(kafka_bootstrap, settings)

    run_async(scenario())


def test_a_changelog_added_later_gets_the_inputs_partition_count(kafka_bootstrap, run_async):
    settings = Settings(pings_topic="t.ad.pings", trips_topic="t.ad.trips", changelog_topic="t.ad.changelog")

    async def scenario():
        await create_topics(
            kafka_bootstrap, settings.model_copy(update={"changelog_topic": "t.ad.unused"}), partitions=5
        )
        assert await create_topics(kafka_bootstrap, settings, partitions=2) == ["t.ad.changelog"]
        assert await check_copartitioned(kafka_bootstrap, settings) == 5

    run_async(scenario())


async def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {e[0]: e[1] for e in response.resources[0][4]}
    finally:
        await admin.close()
