"""The core's exception hierarchy.

Stages raise these; the gRPC servicer maps them to status codes in one place
(InvalidInput -> INVALID_ARGUMENT with google.rpc.BadRequest field violations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: a proto3-style field path (``messages[2].role``) and why."""

    field: str
    description: str


class PromptPressError(Exception):
    """Base class for errors the service reports to callers deliberately."""


class InvalidInput(PromptPressError):
    """The request is malformed; carries every field violation found."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidInput needs at least one violation")
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def single(cls, field: str, description: str) -> InvalidInput:
        return cls([FieldViolation(field, description)])


class NotFound(PromptPressError):
    """A named resource (e.g. a document id) does not exist for this tenant."""

    def __init__(self, field: str, description: str) -> None:
        self.field = field
        self.description = description
        super().__init__(f"{field}: {description}")


class FailedPrecondition(PromptPressError):
    """The service is not configured for this request (no such tier, no upstream)."""


class Unavailable(PromptPressError):
    """Every upstream that could answer failed; the message summarises why."""


class DeadlineExceeded(PromptPressError):
    """The caller's deadline ran out while waiting on an upstream."""


class ResourceExhausted(PromptPressError):
    """A limit (capacity, quota, rate) refuses the call for now; retry after a while."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)
