"""The language switcher on every page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, request, session
from flask_babel import gettext as _

from clinic.core.web import safe_next, view_rule
from clinic.i18n import SESSION_LANGUAGE_KEY, available_languages
from clinic.i18n.services import set_language

bp = Blueprint("i18n", __name__)


@bp.post("/language")
@view_rule(public=True)
def choose_language() -> Any:
    """Keep the chosen language: on the signed-in person's account (every device they
    sign in on follows it), and in the session cookie (before signing in too). The
    CSRF check of every form applies."""
    language = request.form.get("language", "")
    if language not in available_languages():
        abort(400, _("This language is not offered here."))
    user = g.get("user")
    if user is not None:
        set_language(g.uow, user, language)
    session[SESSION_LANGUAGE_KEY] = language
    return redirect(safe_next(request.form.get("next")))
