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


def test_every_request_reply_is_in_the_asyncapi_document_with_its_answer() -> None:
    """A core NATS request (the re-check) is no stream's subject, yet the document shows it: the
    asker's send and the answerer's receive on its subject, each with the answer as reply."""
    from shared.runtime.asyncapi import asyncapi_document

    document = asyncapi_document()
    asked = {(s.name, r) for s in SERVICES.values() for r in s.requests}
    answered = {(s.name, r) for s in SERVICES.values() for r in s.answers}
    assert {r.family.kind for _s, r in asked} >= {"recheck"}
    assert {r for _s, r in asked} == {r for _s, r in answered}
    schemas = document["components"]["schemas"]
    for service, request, action, verb in [
        *((s, r, "send", "asked by") for s, r in asked),
        *((s, r, "receive", "answered by") for s, r in answered),
    ]:
        operation = document["operations"][f"{request.title}: {verb} {service}"]
        assert operation["action"] == action
        channel = document["channels"][f"{request.title}: {verb} {service}"]
        assert channel["address"] == request.template == "nianbao.recheck.{year}.{node}"
        assert "no stream" in channel["description"]
        answer = operation["reply"]["messages"][0]["$ref"].rsplit("/", 1)[-1]
        assert answer == request.answer.__name__
        assert set(schemas[answer]["properties"]) >= {"started", "running", "since"}
        assert request.request.__name__ in schemas
    # a request is no durable: no consumer and no stream names its subject
    durables = {c.durable for s in SERVICES.values() for c in s.consumers}
    assert not any("recheck" in d for d in durables)
