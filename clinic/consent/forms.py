"""Consent forms built from their definitions: one field per item, nothing ticked.

The survivor reads the items in her language; the fields the clinician fills
(proxy, interpreter, witness) are in the clinic's language.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.consent.definitions import FormVersion
from clinic.consent.resources import DRAWN, TYPED_WITNESSED, WITHDRAWAL_METHODS
from clinic.consent.services import PROXY_RELATIONSHIPS
from clinic.consent.words import WORDS

__all__ = ["WORDS", "WithdrawForm", "capture_form", "item_field", "name_field"]


def _choices(pairs: Any) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _ConsentCapture(FlaskForm):
    given_by = RadioField(
        _l("Who consents"),
        choices=_choices(
            [("survivor", _l("The survivor herself")), ("proxy", _l("A proxy for her"))]
        ),
        validators=[Optional()],
    )
    proxy_relationship = SelectField(
        _l("The proxy is her"),
        choices=_choices([("", "—"), *((k, _l(v)) for k, v in PROXY_RELATIONSHIPS.items())]),
        validators=[Optional()],
    )
    proxy_name = StringField(_l("Proxy's name"), validators=[Optional(), Length(max=200)])
    proxy_reason = StringField(
        _l("Why a proxy consents (a minor, or without capacity)"),
        validators=[Optional(), Length(max=500)],
    )
    interpreter = StringField(
        _l("Interpreter (name or service), if any"), validators=[Optional(), Length(max=200)]
    )
    witness = StringField(_l("Witness, if any"), validators=[Optional(), Length(max=200)])
    signature_method = RadioField(
        _l("How she signs"),
        choices=_choices(
            [
                (DRAWN, _l("She draws her signature on the screen")),
                (TYPED_WITNESSED, _l("She types her full name, and a named witness confirms it")),
            ]
        ),
        default=DRAWN,
        validators=[Optional()],
    )
    signature_witness = StringField(
        _l("Witness who saw her type her name (name and role)"),
        validators=[Optional(), Length(max=200)],
    )
    # A data: URL of the PNG drawn on the signature pad (static/signature.js); sent
    # back after a refused submit so that the pad redraws it.
    signature = HiddenField(_l("Signature"), validators=[Optional(), Length(max=300_000)])


def item_field(item_id: str) -> str:
    return f"item_{item_id}"


def name_field(item_id: str) -> str:
    return f"name_{item_id}"


def capture_form(
    form: FormVersion,
    language: str,
    *,
    forces: list[tuple[str, str]],
    organizations: list[tuple[str, str]],
    formdata: Any = None,
) -> Any:
    """A WTForm for one form version, in the language she reads it in. No answer is
    pre-selected: an unanswered item is refused by the service, by name."""
    words = WORDS[language]

    class ConsentCapture(_ConsentCapture):
        pass

    for item in form.items:
        setattr(
            ConsentCapture,
            item_field(item.id),
            RadioField(
                item.text[language],
                choices=_choices([("agree", words["agree"]), ("decline", words["decline"])]),
                validators=[Optional()],
                description=item.help[language],
            ),
        )
        if "person-name" in item.asks:
            setattr(
                ConsentCapture,
                name_field(item.id),
                StringField(words["name"], validators=[Optional(), Length(max=200)]),
            )
    if "police-force" in form.asks:
        ConsentCapture.police_force = SelectField(
            words["force"], choices=_choices([("", "—"), *forces]), validators=[Optional()]
        )
    if "until" in form.asks:
        ConsentCapture.until = DateField(words["until"], validators=[Optional()])
    if "never-share" in form.asks:
        ConsentCapture.never_share = MultiCheckboxField(
            words["never"], choices=_choices(organizations), validators=[Optional()]
        )
        ConsentCapture.never_share_people = TextAreaField(
            words["people"], validators=[Optional(), Length(max=2000)]
        )
    ConsentCapture.free_choice = BooleanField(words["free_choice"])
    ConsentCapture.typed_name = StringField(
        words["typed_name"], validators=[Optional(), Length(max=200)]
    )
    return ConsentCapture(formdata=formdata) if formdata is not None else ConsentCapture()


class WithdrawForm(FlaskForm):
    method = RadioField(
        _l("How she told you"),
        choices=_choices((k, _l(v)) for k, v in WITHDRAWAL_METHODS.items()),
        validators=[Optional()],
    )
    by = StringField(
        _l("Who withdrew (the survivor, or her proxy by name)"),
        validators=[Optional(), Length(max=200)],
    )
    verified = BooleanField(
        _l("By phone: I verified it is her (her code word, or questions only she can answer).")
    )
    note = TextAreaField(
        _l("Anything else she said (optional)"), validators=[Optional(), Length(max=2000)]
    )
    confirm = BooleanField(_l("I have read back to her what stops, and she confirms."))
