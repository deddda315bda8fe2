"""The broker's topics are the plan's: partitions and settings as created by create_topics."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from connectors.cli.agreements import load_directory
from hub.ops.retention import apply_lane_retention, lane_retention
from hub.topics import Topics
from tests.support.examples import AGREEMENTS_DIR

pytestmark = pytest.mark.kafka


async def _settings(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Every setting of each topic as the broker describes it."""
    configs = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    return {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in configs
        for resource in response.resources
    }


async def test_created_topics_have_the_plans_partitions_and_settings(
    kafka_bootstrap: str, topics: Topics
) -> None:
    plan = topics.plan()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in plan])}
        on_broker = await _settings(admin, [s.name for s in plan])
    finally:
        await admin.close()
    for spec in plan:
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
        for key, value in spec.config.items():
            assert on_broker[spec.name][key] == value, (spec.name, key)


async def test_lane_retention_from_the_agreements_keeps_every_other_setting(
    kafka_bootstrap: str, topics: Topics
) -> None:
    agreements = [e.agreement for e in load_directory(AGREEMENTS_DIR).entries]
    plan = lane_retention(agreements, topics)
    assert plan[topics.inbox("KH")] > 365 * 86_400_000
    await apply_lane_retention(kafka_bootstrap, plan)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        on_broker = await _settings(admin, list(plan))
    finally:
        await admin.close()
    by_name = {spec.name: spec for spec in topics.plan()}
    for name, ms in plan.items():
        assert on_broker[name]["retention.ms"] == str(ms)
        for key, value in by_name[name].config.items():
            if key != "retention.ms":
                assert on_broker[name][key] == value, (name, key)  # e.g. LogAppendTime kept
