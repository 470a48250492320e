"""Every service's broker declares exactly what shared.topology says it reads and writes."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import NatsBroker

from shared.contracts import dead_letter_subject
from shared.runtime.service import make_broker
from shared.runtime.settings import CommonSettings
from shared.topology import SERVICES

MEMORY = "sqlite+aiosqlite://"


def built(service: str) -> NatsBroker:
    """The service's broker as its composition root builds it (nothing connects)."""
    broker = make_broker(CommonSettings(), service)
    if service == "intake":
        from services.intake.main import IntakeSettings
        from services.intake.main import build as build_intake

        build_intake(IntakeSettings(intake_database_url=MEMORY), broker)
    elif service == "validator":
        from services.validator.main import build as build_validator

        build_validator(CommonSettings(), broker)
    elif service == "aggregator":
        from services.aggregator.main import AggregatorSettings
        from services.aggregator.main import build as build_aggregator

        build_aggregator(AggregatorSettings(aggregator_database_url=MEMORY), broker)
    elif service == "verifier":
        from services.verifier.main import VerifierSettings
        from services.verifier.main import build as build_verifier

        build_verifier(VerifierSettings(verifier_database_url=MEMORY), broker)
    else:
        from services.publisher.main import PublisherSettings
        from services.publisher.main import build as build_publisher

        build_publisher(PublisherSettings(publisher_database_url=MEMORY), broker)
    return broker


def declared(broker: NatsBroker) -> tuple[set[tuple[Any, ...]], set[str]]:
    consumers = set()
    for subscriber in broker.subscribers:
        stream, config = getattr(subscriber, "stream", None), getattr(subscriber, "config", None)
        assert stream is not None and config is not None, "every consumer is a durable"
        filters = tuple(config.filter_subjects or [config.filter_subject])
        consumers.add((str(stream.name), str(config.durable_name), filters))
    publishes = {str(p.subject.template) for p in broker.publishers}
    return consumers, publishes


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_broker_of_each_service_declares_its_topology(service: str) -> None:
    topology = SERVICES[service]
    consumers, publishes = declared(built(service))
    assert consumers == {(c.stream.name, c.durable, c.filter_subjects) for c in topology.consumers}
    assert publishes == {p.family.template for p in topology.publications} | {
        dead_letter_subject(service)
    }
