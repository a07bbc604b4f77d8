from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
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

from clinic.evidence.locations import CONDITIONS as LOCATION_CONDITIONS
from clinic.evidence.models import EvidenceKind
from clinic.i18n import N_

KIND_LABELS = {
    EvidenceKind.SWAB: N_("Swab"),
    EvidenceKind.BLOOD: N_("Blood"),
    EvidenceKind.URINE: N_("Urine"),
    EvidenceKind.CLOTHING: N_("Clothing"),
    EvidenceKind.HAIR: N_("Hair"),
    EvidenceKind.FINGERNAIL: N_("Fingernail scrapings"),
    EvidenceKind.DEBRIS: N_("Debris"),
    EvidenceKind.OTHER: N_("Other"),
}
ITEM_KINDS = [SelectChoice("", _l("— no item —"))] + [
    SelectChoice(kind.value, _l(KIND_LABELS[kind]))
    for kind in EvidenceKind
    if kind is not EvidenceKind.KIT
]


class ItemRow(Form):
    kind = SelectField(_l("Kind"), choices=ITEM_KINDS, validators=[Optional()])
    item_name = StringField(_l("Item"), validators=[Optional(), Length(max=120)])
    container = StringField(_l("Container"), validators=[Optional(), Length(max=120)])
    body_site = StringField(_l("Body site"), validators=[Optional(), Length(max=120)])
    is_declined = BooleanField(_l("Offered and declined"))
    declined_reason = StringField(
        _l("Who declined, and why"), validators=[Optional(), Length(max=300)]
    )


MAX_ITEMS = 60
MORE_ROWS = 3


class CollectForm(FlaskForm):
    case_id = SelectField(_l("Case reference"), validators=[DataRequired()])
    kit_name = StringField(
        _l("Kit"),
        default="Sexual assault evidence kit",
        validators=[DataRequired(), Length(max=120)],
    )
    # Six rows to begin with; "Add more rows" adds rows without saving (no script
    # needed), up to a bound no real kit reaches.
    items = FieldList(FormField(ItemRow), min_entries=6, max_entries=MAX_ITEMS)

    def __init__(self, *args: Any, cases: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case_id.choices = [SelectChoice(cid, label) for cid, label in cases]


class SealRow(Form):
    item_id = HiddenField(validators=[DataRequired(), Length(max=64)])
    seal_number = StringField(_l("Seal number"), validators=[Optional(), Length(max=40)])


class KitBenchForm(FlaskForm):
    """Seal (and, for custodians, store) a whole kit: a seal number per item."""

    seals = FieldList(FormField(SealRow), min_entries=0, max_entries=MAX_ITEMS + 1)
    location = SelectField(_l("Storage location"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    refusal: str | None = None  # why the whole kit was refused, naming the item

    def __init__(self, *args: Any, locations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location.choices = [SelectChoice("", "—")] + [
            SelectChoice(name, f"{name} ({condition})") for name, condition in locations
        ]


class LabelSearchForm(Form):
    """The label search on the evidence list: typed, or scanned (a barcode scanner
    types the label and Enter). A GET form: no CSRF token in the address."""

    label = StringField(
        _l("Find an item by its label (type it or scan it)"),
        validators=[DataRequired(message=_l("Type or scan the label.")), Length(max=64)],
    )


class CustodyForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    seal_number = StringField(_l("Seal number"), validators=[Optional(), Length(max=40)])
    is_seal_intact = BooleanField(_l("The seal is intact"))
    location = SelectField(_l("Storage location"), validators=[Optional()])
    to_person = StringField(_l("Taken by (username)"), validators=[Optional(), Length(max=64)])
    receiver_name = StringField(
        _l("Received by (full name, who signs the receipt)"),
        validators=[Optional(), Length(max=200)],
    )
    receiver_organization_id = SelectField(_l("Receiving organisation"), validators=[Optional()])
    # A data: URL of the PNG drawn on the signature pad (static/signature.js).
    receiver_signature = HiddenField(
        _l("Receiver's signature"), validators=[Optional(), Length(max=300_000)]
    )
    second_person = StringField(
        _l("Second person (username)"), validators=[Optional(), Length(max=64)]
    )
    second_person_password = PasswordField(
        _l("Second person's password"), validators=[Optional(), Length(max=1024)]
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])

    def __init__(
        self,
        *args: Any,
        receivers: list[tuple[str, str]],
        locations: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.location.choices = [SelectChoice("", "—")] + [
            SelectChoice(name, f"{name} ({condition})") for name, condition in locations
        ]
        self.receiver_organization_id.choices = [SelectChoice("", "—")] + [
            SelectChoice(i, n) for i, n in receivers
        ]


CONDITION_LABELS = {"ambient": N_("Ambient"), "fridge": N_("Fridge"), "freezer": N_("Freezer")}
CONDITIONS = [
    SelectChoice(condition, _l(CONDITION_LABELS[condition])) for condition in LOCATION_CONDITIONS
]


class LocationForm(FlaskForm):
    name = StringField(
        _l("Name (store, fridge or shelf, box)"), validators=[DataRequired(), Length(max=200)]
    )
    condition = SelectField(_l("Keeps items"), choices=CONDITIONS, validators=[DataRequired()])


class RetireLocationForm(FlaskForm):
    location_id = HiddenField(validators=[DataRequired()])


class ExtendRetentionForm(FlaskForm):
    reason = StringField(
        _l("How the survivor objected, and when"), validators=[DataRequired(), Length(max=500)]
    )


def retention_form_class() -> type[FlaskForm]:
    """The site retention form: years, months and start for each reporting mode and
    age group, and the site's evidence deadlines."""
    from wtforms import IntegerField
    from wtforms.validators import InputRequired, NumberRange

    from clinic.cases.models import ReportingMode
    from clinic.evidence.models import AgeGroup

    class RetentionForm(FlaskForm):
        transfer_limit_days = IntegerField(
            _l("Days an item may stay with a lab or police before it shows as overdue"),
            validators=[InputRequired(), NumberRange(min=1, max=3650)],
        )
        objection_extension_months = IntegerField(
            _l("Months a survivor's objection adds to the disposal date"),
            validators=[InputRequired(), NumberRange(min=1, max=1200)],
        )
        coming_due_days = IntegerField(
            _l("Days before the disposal date that a kit shows as coming due"),
            validators=[InputRequired(), NumberRange(min=1, max=3650)],
        )

    for mode in ReportingMode:
        for group in AgeGroup:
            key = f"{mode.value}_{group.value}"
            label = f"{mode.value.capitalize()}, {group.value}"
            setattr(
                RetentionForm,
                f"{key}_years",
                IntegerField(
                    f"{label}: years", validators=[InputRequired(), NumberRange(min=0, max=100)]
                ),
            )
            setattr(
                RetentionForm,
                f"{key}_months",
                IntegerField(
                    f"{label}: months", validators=[InputRequired(), NumberRange(min=0, max=11)]
                ),
            )
            choices = [SelectChoice("collection", _l("from collection"))]
            if group is AgeGroup.MINOR:
                choices.append(SelectChoice("majority", _l("from her 18th birthday")))
            setattr(
                RetentionForm,
                f"{key}_from",
                SelectField(f"{label}: counted", choices=choices, validators=[DataRequired()]),
            )
    return RetentionForm
