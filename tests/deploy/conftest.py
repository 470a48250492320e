"""The compose deployment as local processes: three nats-servers, the services, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.compose import Deployment, deployed, issue_tokens


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployed(tmp_path_factory.mktemp("compose")) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(deployment: Deployment) -> dict[str, str]:
    """`docker compose run --rm intake nianbao deploy tokens`: the operator issues tokens."""
    return issue_tokens(deployment)
