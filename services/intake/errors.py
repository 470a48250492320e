"""The intake's domain errors: what went wrong, a machine code, Chinese and English messages."""

from __future__ import annotations

from typing import ClassVar, Self

from shared.contracts import IssueOut


class IntakeError(Exception):
    """Raised by the intake's use cases. ``error`` is the machine code clients see (each kind has
    its usual one; a few kinds name several cases), ``issues`` the field-level findings. Which
    HTTP status each kind gets is decided in one place, services/intake/problems.py."""

    #: the machine code of this kind of error, unless the raiser names another
    code: ClassVar[str] = "error"

    def __init__(
        self,
        message_zh: str,
        message_en: str,
        issues: list[IssueOut] | None = None,
        *,
        error: str | None = None,
    ) -> None:
        super().__init__(message_en)
        self.error = error or self.code
        self.message_zh = message_zh
        self.message_en = message_en
        self.issues = issues or []

    def with_issues(self, issues: list[IssueOut]) -> Self:
        """The same error with other issues (e.g. each naming its workbook cells)."""
        return type(self)(self.message_zh, self.message_en, issues, error=self.error)


class Malformed(IntakeError):
    """The body cannot be read at all: not UTF-8, not JSON, not a workbook."""


class TooLarge(IntakeError):
    """The body is over its size limit."""

    code = "too_large"


class UnsupportedMediaType(IntakeError):
    """The body is in a format the intake does not take."""

    code = "unsupported_media_type"


class Unauthenticated(IntakeError):
    """No bearer token, or one that is unknown, revoked or expired."""

    code = "unauthenticated"


class NotAllowed(IntakeError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFound(IntakeError):
    """No such thing, or none the caller may see (the two are not told apart)."""

    code = "not_found"


class Conflict(IntakeError):
    """The request is sound but the filing's state does not allow it now."""


class Locked(Conflict):
    """The filing was approved and locked by a supervisory office."""

    code = "locked"


class Invalid(IntakeError):
    """The content does not meet its rules: each issue names the field and the reason."""

    @classmethod
    def field(
        cls, error: str, rule_id: str, path: str, message_zh: str, message_en: str
    ) -> Invalid:
        """One field is wrong: the error's messages are the issue's."""
        issue = IssueOut(
            rule_id=rule_id,
            severity="error",
            paths=[path],
            message_zh=message_zh,
            message_en=message_en,
        )
        return cls(message_zh, message_en, [issue], error=error)


class Unavailable(IntakeError):
    """The message stream did not acknowledge: retry later."""

    code = "unavailable"
