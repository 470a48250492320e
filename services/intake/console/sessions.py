"""Console sessions kept server-side (token, CSRF token, expiry) and the sign-in throttle."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

#: a session ends this long after its last use, or at the latest SESSION_MAX_SECONDS after sign-in
SESSION_IDLE_SECONDS = 30 * 60
SESSION_MAX_SECONDS = 8 * 3600
#: past this many live sessions the oldest are dropped (bounds memory)
SESSION_LIMIT = 20_000
#: failed sign-ins from one address within THROTTLE_WINDOW seconds before it is slowed down
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = 60.0
THROTTLE_ADDRESSES = 50_000


@dataclass
class Session:
    """One browser's session: anonymous (before sign-in: only a CSRF token) or signed in. The
    token stays in server memory only; every request authenticates it again, so a revoked or
    expired token ends the session at once."""

    sid: str
    csrf: str
    created: float
    seen: float
    token: str | None = None
    #: one-off notice shown on the next page (after a redirect)
    flash: list[str] = field(default_factory=list)

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())


class Sessions:
    """Session id -> session, in the intake's memory (an intake restart signs everyone out)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def new(self) -> Session:
        now = self._now()
        if len(self._sessions) >= SESSION_LIMIT:
            for sid in sorted(self._sessions, key=lambda s: self._sessions[s].seen)[:1000]:
                del self._sessions[sid]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid or "")
        if session is None:
            return None
        now = self._now()
        if now - session.seen > SESSION_IDLE_SECONDS or now - session.created > SESSION_MAX_SECONDS:
            del self._sessions[session.sid]
            return None
        session.seen = now
        return session

    def sign_in(self, old: Session | None, token: str) -> Session:
        """A fresh session (new id, new CSRF token) holding the token; the old one ends: an id
        planted before sign-in is worth nothing after it (session fixation)."""
        if old is not None:
            self.end(old.sid)
        session = self.new()
        session.token = token
        return session

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)


class SignInThrottle:
    """Failed sign-ins per address: past THROTTLE_FAILURES within THROTTLE_WINDOW seconds the
    address must wait until the oldest failure leaves the window."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] >= THROTTLE_WINDOW:
            failures.popleft()
        return failures

    def wait_seconds(self, address: str) -> int:
        """0 when the address may try now, else how many seconds it must wait."""
        now = time.monotonic()
        failures = self._recent(address, now)
        if len(failures) < THROTTLE_FAILURES:
            return 0
        return max(1, int(THROTTLE_WINDOW - (now - failures[0])) + 1)

    def failed(self, address: str) -> None:
        if len(self._failures) >= THROTTLE_ADDRESSES:
            self._failures.clear()
        now = time.monotonic()
        failures = self._recent(address, now)
        failures.append(now)
        self._failures[address] = failures

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
