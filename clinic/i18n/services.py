"""A staff member's own language preference."""

from __future__ import annotations

from clinic.accounts.models import User
from clinic.core.unit_of_work import UnitOfWork


def set_language(uow: UnitOfWork, user: User, language: str) -> None:
    """The person's own preference, on their own account: the language their screens
    are shown in wherever they sign in. The caller checks the language is one the clinic offers."""
    user.language = language
    uow.session.flush()
