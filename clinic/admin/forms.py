from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField


class RenewForm(FlaskForm):
    pass


class AccessReviewForm(FlaskForm):
    # The SHA-256 of the list as shown: a list changed since is not confirmed.
    digest = HiddenField()
