"""The broker's topics are the plan's: partitions and settings as created by create_topics."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.topics import Topics

pytestmark = pytest.mark.kafka


async def test_created_topics_have_the_plans_partitions_and_settings(
    kafka_bootstrap: str, topics: Topics
) -> None:
    plan = topics.plan()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in plan])}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in plan]
        )
    finally:
        await admin.close()
    on_broker = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in configs
        for resource in response.resources
    }
    for spec in plan:
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
        for key, value in spec.config.items():
            assert on_broker[spec.name][key] == value, (spec.name, key)
