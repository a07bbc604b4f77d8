from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from clinic.evidence.models import EvidenceKind

ITEM_KINDS = [SelectChoice("", "— no item —")] + [
    SelectChoice(kind.value, kind.value.replace("fingernail", "fingernail scrapings").capitalize())
    for kind in EvidenceKind
    if kind is not EvidenceKind.KIT
]


class ItemRow(Form):
    kind = SelectField("Kind", choices=ITEM_KINDS, validators=[Optional()])
    item_name = StringField("Item", validators=[Optional(), Length(max=120)])
    container = StringField("Container", validators=[Optional(), Length(max=120)])
    body_site = StringField("Body site", validators=[Optional(), Length(max=120)])
    is_declined = BooleanField("Offered and declined")
    declined_reason = StringField("Who declined, and why", validators=[Optional(), Length(max=300)])


class CollectForm(FlaskForm):
    patient_id = SelectField("Survivor (case reference)", validators=[DataRequired()])
    kit_name = StringField(
        "Kit", default="Sexual assault evidence kit", validators=[DataRequired(), Length(max=120)]
    )
    items = FieldList(FormField(ItemRow), min_entries=6, max_entries=12)

    def __init__(self, *args: Any, cases: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient_id.choices = [SelectChoice(pid, label) for pid, label in cases]


class CustodyForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    seal_number = StringField("Seal number", validators=[Optional(), Length(max=40)])
    is_seal_intact = BooleanField("The seal is intact")
    location = StringField("Location (store, shelf, box)", validators=[Optional(), Length(max=200)])
    storage_condition = SelectField(
        "Condition",
        choices=[
            SelectChoice("", "—"),
            SelectChoice("ambient", "Ambient"),
            SelectChoice("fridge", "Fridge"),
            SelectChoice("freezer", "Freezer"),
        ],
        validators=[Optional()],
    )
    to_person = StringField("Taken by (username)", validators=[Optional(), Length(max=64)])
    receiver_name = StringField(
        "Received by (full name, who signs the receipt)", validators=[Optional(), Length(max=200)]
    )
    receiver_organization_id = SelectField("Receiving organisation", validators=[Optional()])
    # A data: URL of the PNG drawn on the signature pad (static/signature.js).
    receiver_signature = HiddenField(
        "Receiver's signature", validators=[Optional(), Length(max=300_000)]
    )
    second_person = StringField("Second person (username)", validators=[Optional(), Length(max=64)])
    second_person_password = PasswordField(
        "Second person's password", validators=[Optional(), Length(max=1024)]
    )
    note = StringField("Note", validators=[Optional(), Length(max=500)])

    def __init__(self, *args: Any, receivers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receiver_organization_id.choices = [SelectChoice("", "—")] + [
            SelectChoice(i, n) for i, n in receivers
        ]
