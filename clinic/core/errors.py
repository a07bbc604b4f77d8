"""The domain error every service raises for a refusal a person should read."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a message fit to show, and the form field it concerns."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def said(self) -> str:
        """The message in the reader's language: a sentence made of a marked message
        and its values (clinic.i18n.sentences), or a message marked where it is raised."""
        from flask_babel import gettext

        from clinic.i18n.sentences import Sentence

        if isinstance(self.message, Sentence):
            return self.message.said()
        return gettext(self.message)
