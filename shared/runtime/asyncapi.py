"""The AsyncAPI document of the whole system, generated from the services' own brokers."""

from __future__ import annotations

from typing import Any

from faststream.specification import AsyncAPI

from shared.contracts import STREAMS


def asyncapi_document() -> dict[str, Any]:
    """Declare every service's subscribers and publishers on one broker and describe them."""
    from services.aggregator.main import AggregatorSettings
    from services.aggregator.main import build as build_aggregator
    from services.intake.main import IntakeSettings
    from services.intake.main import build as build_intake
    from services.publisher.main import PublisherSettings
    from services.publisher.main import build as build_publisher
    from services.validator.main import build as build_validator
    from shared.runtime.service import make_broker
    from shared.runtime.settings import CommonSettings

    broker = make_broker(CommonSettings(), "docs")
    build_intake(IntakeSettings(intake_database_url="sqlite+aiosqlite://"), broker)
    build_validator(CommonSettings(), broker)
    build_aggregator(AggregatorSettings(aggregator_database_url="sqlite+aiosqlite://"), broker)
    build_publisher(PublisherSettings(publisher_database_url="sqlite+aiosqlite://"), broker)
    streams = "; ".join(f"{s.name} ({', '.join(s.subjects)}): {s.description}" for s in STREAMS)
    spec = AsyncAPI(
        broker,
        title="nianbao events",
        version="1",
        description="政府网站年度报表 — events between intake, validator, aggregator and "
        f"publisher over NATS JetStream. Streams: {streams}",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document
