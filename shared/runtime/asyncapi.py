"""The AsyncAPI document of the whole system, generated from the topology (shared.topology)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from faststream.specification import AsyncAPI

from shared.contracts import STREAMS
from shared.runtime.messaging import DeadLetters, durable_subscriber
from shared.runtime.service import declare_publications, make_broker
from shared.runtime.settings import CommonSettings
from shared.topology import SERVICES, Request


async def _documented(msgs: Any) -> None:
    """Stands for a service's handler: the document needs subscribers, not their work."""


def _answering(request: Request) -> Any:
    """Stands for the handler answering a request: typed with its request and answer."""

    async def answer(msg: Any) -> Any:
        return None

    answer.__annotations__ = {"msg": request.request, "return": request.answer}
    return answer


def asyncapi_document() -> dict[str, Any]:
    """Declare every service's consumers, publications and requests on one broker and describe
    them; a request/reply is a ``send`` (the asker) and a ``receive`` (the answerer) on the
    request's subject, each with its ``reply`` (the answer, into the asker's inbox)."""
    broker = make_broker(CommonSettings(), "docs")
    requests: dict[str, Request] = {}
    for service in SERVICES.values():
        for consumer in service.consumers:
            durable_subscriber(broker, consumer)(_documented)
        declare_publications(broker, service)
        DeadLetters(broker, service.name)
        for request in service.answers:
            title = f"{request.title}: answered by {service.name}"
            broker.subscriber(
                request.template, queue=service.name, title=title, description=request.description
            )(_answering(request))
            requests[title] = request
        for request in service.requests:
            title = f"{request.title}: asked by {service.name}"
            broker.publisher(
                request.template,
                title=title,
                schema=request.request,
                description=request.description,
            )
            requests[title] = request
    streams = "; ".join(f"{s.name} ({', '.join(s.subjects)}): {s.description}" for s in STREAMS)
    spec = AsyncAPI(
        broker,
        title="nianbao events",
        version="1",
        description="政府网站年度报表 — events between intake, validator, aggregator, "
        "publisher and verifier over NATS JetStream, and their core NATS requests. "
        f"Streams: {streams}",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    for title, request in requests.items():
        _add_reply(document, title, request)
    return document


def _add_reply(document: dict[str, Any], operation: str, request: Request) -> None:
    """The answer of a request: its schema, a channel without address (the asker's inbox, named
    by the request's reply subject) and the operation's ``reply``."""
    answer = request.answer.__name__
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})[answer] = request.answer.model_json_schema()
    components.setdefault("messages", {})[answer] = {
        "title": answer,
        "payload": {"$ref": f"#/components/schemas/{answer}"},
    }
    channel = f"{request.title}: answer"
    document["channels"][channel] = {
        "address": None,
        "description": f"the reply to {request.template}, into the asker's own inbox "
        "(_INBOX_<service>.>)",
        "messages": {answer: {"$ref": f"#/components/messages/{answer}"}},
    }
    ref = f"#/channels/{quote(channel, safe=':')}"
    document["operations"][operation]["reply"] = {
        "address": {
            "location": "$message.header#/reply_to",
            "description": "the request's reply subject",
        },
        "channel": {"$ref": ref},
        "messages": [{"$ref": f"{ref}/messages/{answer}"}],
    }
