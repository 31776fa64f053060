"""Expected failures: each carries a code that the API shows as a typed userError."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_INPUT = "INVALID_INPUT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    DUPLICATE = "DUPLICATE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    RATE_LIMITED = "RATE_LIMITED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    INVALID_STATE = "INVALID_STATE"


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, message, field)


class NotFound(DomainError):
    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found.", field)


class Forbidden(DomainError):
    def __init__(self, message: str = "You may not do this.", field: str | None = None) -> None:
        super().__init__(ErrorCode.FORBIDDEN, message, field)
