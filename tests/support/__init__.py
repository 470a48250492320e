"""Helpers shared by the tests; the only place a test module or a conftest imports helpers from.

One module per concern:

- ``waiting``: wait_until / eventually, polling with deadlines (never bare sleeps)
- ``system``: the running system (nats-server, the services, the pages server) as a fixture
- ``reports``: realistic work reports for any registered site
- ``forms``: the mini registry and report edits for the forms tests
- ``pipeline``: the intake over HTTP, JetStream reads, page snapshots
- ``excel``: filling downloaded templates the way a script would
- ``hostile``: the hostile-request corpus of the security tests
- ``chaos``: fault injection on a running system
- ``figures``: figures the fault and security tests print at the end of a run
- ``compose``: deploy/compose.yaml run as local processes
- ``databases``: a fresh PostgreSQL database per run, else SQLite
- ``nats``: a nats-server secured with the users file `nianbao deploy nats-users` writes

Nothing imports from a conftest or from a ``test_*.py`` module.
"""

from tests.support.waiting import eventually, wait_until

__all__ = ["eventually", "wait_until"]
