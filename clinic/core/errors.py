"""The domain error every service raises for a refusal a person should read."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a message fit to show, and the form field it concerns."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
