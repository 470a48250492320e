"""What every console route uses: the API's use cases, the token store, sessions, its reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from services.intake.console.queries import ConsoleQueries
from services.intake.console.sessions import Session, Sessions, SignInThrottle
from services.intake.console.web import COOKIE
from services.intake.declarations import Declarations
from services.intake.filing import Intake
from services.intake.review import Reviews


@dataclass
class Console:
    """What the console's routes use: the API's use cases and token store, and its own reads."""

    intake: Intake
    reviews: Reviews
    queries: ConsoleQueries
    max_body_bytes: int
    sessions: Sessions = field(default_factory=Sessions)
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    #: the publication duty's use cases: the filing and receipt screens show the history
    declarations: Declarations | None = None

    async def create(self) -> None:
        await self.queries.create()


def anonymous(request: Request, console: Console) -> tuple[Session, bool]:
    """The browser's session, or a new anonymous one (True: its cookie must be set)."""
    session = console.sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        return session, False
    return console.sessions.new(), True
