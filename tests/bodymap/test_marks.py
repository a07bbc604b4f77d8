"""Body maps (issue 14, point 8): marks placed by tapping and by keyboard through
HTTP, each tied to an injury; bad marks refused with a clear message and nothing
written; no mark on a part she declined; after sign-off a mark changes only by
amendment, versioned; the printed report carries the maps (pixels checked)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from clinic.bodymap.diagrams import diagram_book
from clinic.bodymap.marks import MarkRefused, MarkRequest, place_mark
from clinic.bodymap.render import MARK, PlacedMark, render_png
from clinic.exam import services
from clinic.fhir.profiles import PROFILES_DIR
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD, World
from tests.exam.helpers import (
    INJURY,
    call,
    complete_exam,
    decide_every_window,
    read,
    record_exam_consent,
    start,
)
from tests.helpers import api, csrf_token, login, open_case

FOREARM_POINT = ("141.5", "180")  # on the adult female front drawing: her left forearm


def count_versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar() or 0
        )


def injury_form(**fields: str) -> dict[str, str]:
    return {
        "kind": "bruise",
        "region": "forearm",
        "site": "left forearm, inner side",
        "length_mm": "30",
        "width_mm": "12",
        "colour": "blue-purple",
        "description": "Tender on touch.",
        "drawing": "",
        "mark_x": "",
        "mark_y": "",
    } | fields


def post_injury(client: FlaskClient, exam_id: str, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/exams/{exam_id}/injuries")
    return client.post(
        f"/exams/{exam_id}/injuries", data=injury_form(**fields) | {"csrf_token": token}
    )


def mark_of(app: Flask, exam_id: str, slot: str):  # type: ignore[no-untyped-def]
    return next(i for s, i, _ in read(app, exam_id).injuries if s == slot).mark


# -- placing marks through HTTP ------------------------------------------------------


def test_a_tapped_mark_and_a_keyboard_mark_are_tied_to_their_injuries(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    page = client.get(f"/exams/{exam_id}/injuries").get_data(as_text=True)
    assert 'class="body-map-drawing body-map-picker"' in page
    assert 'data-region="forearm"' in page
    assert 'src="/static/bodymap.js"' in page
    assert "<script>" not in page  # the CSP allows no inline script

    # Tapped: the point as the script sends it.
    x, y = FOREARM_POINT
    response = post_injury(client, exam_id, drawing="adult-female:front", mark_x=x, mark_y=y)
    assert response.status_code == 302, response.get_data(as_text=True)
    tapped = mark_of(app, exam_id, "injury:1")
    assert (tapped.diagram, tapped.view, tapped.x, tapped.y, tapped.number) == (
        "adult-female",
        "front",
        Decimal("141.5"),
        Decimal("180"),
        1,
    )

    # By keyboard: a drawing and a region from the lists, no point; the mark goes
    # in the middle of the region.
    response = post_injury(
        client, exam_id, region="back", site="left shoulder blade", drawing="adult-female:back"
    )
    assert response.status_code == 302
    keyed = mark_of(app, exam_id, "injury:2")
    drawing = diagram_book().drawing("adult-female", "back")
    assert drawing is not None
    assert drawing.region_at(float(keyed.x), float(keyed.y)) == "back"
    assert keyed.number == 2

    # A second keyboard mark in the same region is placed beside the first.
    post_injury(
        client, exam_id, region="back", site="right shoulder blade", drawing="adult-female:back"
    )
    other = mark_of(app, exam_id, "injury:3")
    assert (other.x, other.y) != (keyed.x, keyed.y)
    assert drawing.region_at(float(other.x), float(other.y)) == "back"

    # No mark asked for: the injury is recorded without one.
    post_injury(client, exam_id, region="neck", site="front of the neck")
    assert mark_of(app, exam_id, "injury:4") is None

    # The drawing of the latest mark is shown unless another is asked for.
    page = client.get(f"/exams/{exam_id}/injuries").get_data(as_text=True)
    assert 'data-drawing="adult-female:back"' in page
    # The page shows the marks of the drawing shown, and which drawings hold marks.
    page = client.get(f"/exams/{exam_id}/injuries?show=adult-female:back").get_data(as_text=True)
    assert page.count('class="body-mark"') == 2
    assert "Adult female, back (marked: 2, 3)" in page
    assert "Adult female, front (marked: 1)" in page
    assert "Marked on the body map: Adult female, back" in page  # in the injuries table

    # The stored Observation carries the mark and validates against fc-mapped-injury.
    record = read(app, exam_id)
    content = record.entries["injury:1"].content
    assert (
        "https://forensic-care.org/fhir/StructureDefinition/fc-mapped-injury"
        in content["meta"]["profile"]
    )
    validate_resource(content, app.extensions["clinic.profiles"])
    assert "extension" not in record.entries["injury:4"].content


def test_an_injury_mark_is_moved_removed_and_moved_to_its_region_by_keyboard(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    x, y = FOREARM_POINT
    post_injury(client, exam_id, drawing="adult-female:front", mark_x=x, mark_y=y)
    page = client.get(f"/exams/{exam_id}/injuries/1").get_data(as_text=True)
    assert 'name="mark_x" type="hidden" value="141.5"' in page
    assert "Move the mark to the middle of the region" in page
    token = csrf_token(client, f"/exams/{exam_id}/injuries/1")
    # The region changed by keyboard, the old point kept: refused, and says what to do.
    refused = client.post(
        f"/exams/{exam_id}/injuries/1",
        data=injury_form(region="thigh", drawing="adult-female:front", mark_x=x, mark_y=y)
        | {"csrf_token": token},
    )
    assert refused.status_code == 422
    text = html.unescape(refused.get_data(as_text=True))
    assert "The mark is on the forearm, but the injury's region is thigh" in text
    assert "Move the mark to the middle of the region" in text
    assert '<circle class="body-mark-pending" cx="141.5" cy="180"' in text  # still shown
    moved = client.post(
        f"/exams/{exam_id}/injuries/1",
        data=injury_form(
            region="thigh", drawing="adult-female:front", mark_x=x, mark_y=y, move_mark="y"
        )
        | {"csrf_token": token},
    )
    assert moved.status_code == 302
    mark = mark_of(app, exam_id, "injury:1")
    assert (
        diagram_book().drawings["adult-female:front"].region_at(float(mark.x), float(mark.y))
        == "thigh"
    )
    removed = client.post(
        f"/exams/{exam_id}/injuries/1",
        data=injury_form(region="thigh") | {"csrf_token": token},
    )
    assert removed.status_code == 302
    assert mark_of(app, exam_id, "injury:1") is None


# -- bad marks: a clear message by the field, nothing written -------------------------


@pytest.mark.parametrize(
    ("fields", "message", "field_id"),
    [
        (
            {"drawing": "adult-female:front", "mark_x": "250", "mark_y": "180"},
            "The mark is outside the Adult female, front diagram (200 wide, 440 high)",
            "drawing",
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "-1", "mark_y": "180"},
            "The mark is outside the Adult female, front diagram",
            "drawing",
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "1e999", "mark_y": "1e999"},
            "The mark is outside the Adult female, front diagram",
            "drawing",
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "5", "mark_y": "5"},
            "The mark is beside the body, not on it",
            "drawing",
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "141.5"},
            "The mark's point is incomplete",
            "drawing",
        ),
        ({"drawing": "dog:front"}, "Choose a body diagram and view from the list.", "drawing"),
        ({"drawing": "x" * 5000}, "Choose a body diagram and view from the list.", "drawing"),
        ({"drawing": "adult-male:top"}, "The Adult male diagram has no such view", "drawing"),
        (
            {"drawing": "adult-female:front", "region": "buttock"},
            "The Adult female, front diagram has no buttock region",
            "drawing",
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "141.5", "mark_y": "180", "region": "knee"},
            "The mark is on the forearm, but the injury's region is knee",
            "region",
        ),
        (
            {"drawing": "adult-female:front", "region": "other"},
            "A mark for the region “Other” needs a point",
            "drawing",
        ),
        ({"region": "elbow-pit"}, "Not a valid choice", "region"),
        (
            {"drawing": "adult-female:front", "mark_x": "left"},
            "Not a valid decimal value",
            "mark_x",
        ),
        # Numbers Python's Decimal parses but that are no number at all.
        *(
            (
                {"drawing": "adult-female:front", "mark_x": bad, "mark_y": "180"},
                "Enter a number, not “NaN” or “infinity”.",
                "mark_x",
            )
            for bad in ("sNaN", "NaN", "Infinity", "-inf")
        ),
        (
            {"drawing": "adult-female:front", "mark_x": "141.5", "mark_y": "sNaN"},
            "Enter a number, not “NaN” or “infinity”.",
            "mark_y",
        ),
        *(
            ({name: bad}, "Enter a number, not “NaN” or “infinity”.", name)
            for name in ("length_mm", "width_mm")
            for bad in ("sNaN", "NaN", "Infinity")
        ),
    ],
)
def test_a_bad_mark_is_refused_with_a_clear_message_and_nothing_written(
    app: Flask,
    client: FlaskClient,
    world: World,
    engine: sa.Engine,
    fields: dict[str, str],
    message: str,
    field_id: str,
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    response = post_injury(client, exam_id, **fields)
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert message in text
    assert f'href="#{field_id}"' in text  # the summary leads to the field
    assert count_versions(engine) == before
    assert read(app, exam_id).injuries == []


def test_a_mark_on_the_part_she_declined_is_refused(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id, anogenital_exam=False)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    # A point on the female anogenital diagram (the perineum) ...
    tapped = post_injury(
        client,
        exam_id,
        region="perineum",
        drawing="anogenital-female:external",
        mark_x="100",
        mark_y="125",
    )
    # ... a body-region on it chosen by keyboard, and an anogenital region with no map.
    keyed = post_injury(client, exam_id, region="thigh", drawing="anogenital-male:external")
    unmapped = post_injury(client, exam_id, region="anus")
    for response in (tapped, keyed, unmapped):
        assert response.status_code == 422
        assert (
            "She declined the anogenital examination in her examination and treatment consent."
            in html.unescape(response.get_data(as_text=True))
        )
    assert count_versions(engine) == before
    # The same injury on a body diagram is recorded.
    assert (
        post_injury(client, exam_id, region="thigh", drawing="adult-female:front").status_code
        == 302
    )


def test_marks_of_a_part_she_later_declined_block_sign_off_until_removed(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.add_injury,
        exam_id=exam_id,
        injury=replace(INJURY, region="posterior-fourchette", site="6 o'clock"),
        mark=MarkRequest("anogenital-female", "external"),
    )
    record_exam_consent(app, case.id, anogenital_exam=False)
    with pytest.raises(services.ExamRefused, match="Injuries in the anogenital area"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(app, "examiner", services.remove_declined_findings, exam_id=exam_id)
    assert [slot for slot, _, _ in read(app, exam_id).injuries] == ["injury:1"]
    # Her decline changed the guidance on anogenital samples: decided again.
    decide_every_window(app, exam_id)
    assert call(app, "examiner", services.sign_off, exam_id=exam_id).status == "signed"


# -- after sign-off: amendment only, versioned ----------------------------------------


def test_after_sign_off_a_mark_changes_only_by_amendment_with_a_reason(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    token = csrf_token(client, f"/exams/{exam_id}/injuries/1")
    x, y = FOREARM_POINT
    refused = client.post(
        f"/exams/{exam_id}/injuries/1",
        data=injury_form(drawing="adult-female:front", mark_x=x, mark_y=y) | {"csrf_token": token},
    )
    assert refused.status_code == 422
    assert "This exam is signed off and read-only: to correct it, say why" in html.unescape(
        refused.get_data(as_text=True)
    )
    added = post_injury(client, exam_id, drawing="adult-female:front", mark_x=x, mark_y=y)
    assert added.status_code == 422
    assert count_versions(engine) == before

    amended = client.post(
        f"/exams/{exam_id}/injuries/1",
        data=injury_form(
            drawing="adult-female:front",
            mark_x=x,
            mark_y=y,
            amendment_reason="The body map was left out at sign-off.",
        )
        | {"csrf_token": token},
    )
    assert amended.status_code == 302
    record = read(app, exam_id)
    (amendment,) = record.amendments
    assert amendment.reason == "The body map was left out at sign-off."
    assert (amendment.from_version, amendment.to_version) == (1, 2)
    injury_id = record.entries["injury:1"].logical_id
    with engine.connect() as connection:
        contents = [
            json.loads(row)
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE logical_id = :i "
                    "ORDER BY version_id"
                ),
                {"i": injury_id},
            ).scalars()
        ]
    assert ["extension" in c for c in contents] == [False, True]  # the original kept
    report = read(app, exam_id)
    assert report.exam.report_id is not None


# -- the printed report ---------------------------------------------------------------


def test_place_mark_refuses_a_point_that_is_not_a_number() -> None:
    """The service guards itself too: a point that is no number is refused, never
    an error (float() of a signalling NaN raises)."""
    for x, y in [("sNaN", "180"), ("141.5", "NaN"), ("Infinity", "180")]:
        with pytest.raises(MarkRefused) as refused:
            place_mark(
                diagram_book(),
                MarkRequest("adult-female", "front", Decimal(x), Decimal(y)),
                region="forearm",
                number=1,
                labels={},
            )
        assert refused.value.field == "drawing"
        assert "tap the diagram again" in refused.value.message


def marked_pixels(png: bytes) -> set[tuple[int, int]]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {
        (x, y)
        for x in range(image.width)
        for y in range(image.height)
        if image.getpixel((x, y)) == MARK
    }


def test_the_rendered_png_has_the_marks_where_they_were_placed() -> None:
    drawing = diagram_book().drawings["adult-male:back"]
    blank = render_png(drawing, [])
    assert not marked_pixels(blank)
    png = render_png(drawing, [PlacedMark(1, 100, 150), PlacedMark(2, 60, 300)])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (400, 880)
    red = marked_pixels(png)
    # Each mark is a disc around its point (scale 2), with its number in white.
    for cx, cy in ((200, 300), (120, 600)):
        near = {(x, y) for x, y in red if (x - cx) ** 2 + (y - cy) ** 2 <= 14**2}
        assert len(near) > 300
        assert any(
            image.getpixel((cx + dx, cy + dy)) == (255, 255, 255)
            for dx in range(-4, 5)
            for dy in range(-5, 6)
        )
    assert all(
        (x - 200) ** 2 + (y - 300) ** 2 <= 15**2 or (x - 120) ** 2 + (y - 600) ** 2 <= 15**2
        for x, y in red
    )


def test_the_printed_report_shows_the_maps_with_a_numbered_legend(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    x, y = FOREARM_POINT
    call(
        app,
        "examiner",
        services.change_injury,
        exam_id=exam_id,
        slot="injury:1",
        injury=INJURY,
        mark=MarkRequest("adult-female", "front", Decimal(x), Decimal(y)),
    )
    call(
        app,
        "examiner",
        services.add_injury,
        exam_id=exam_id,
        injury=replace(INJURY, region="back", site="left shoulder blade"),
        mark=MarkRequest("adult-female", "back"),
    )
    login(client, "examiner", PASSWORD)
    page = client.get(f"/exams/{exam_id}/report").get_data(as_text=True)
    injuries = page.split("Injuries</h2>")[1].split("</section>")[0]
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', injuries)
    assert [alt for _, alt in images] == [
        "Body map, Adult female, front: injuries 1 marked; the legend follows.",
        "Body map, Adult female, back: injuries 2 marked; the legend follows.",
    ]
    front = base64.b64decode(images[0][0])
    red = marked_pixels(front)
    assert red
    assert all((px - 283) ** 2 + (py - 360) ** 2 <= 15**2 for px, py in red)
    assert "1: Bruise, left forearm, inner side, 30 mm x 12 mm (Forearm)" in html.unescape(injuries)
    assert "2: Bruise, left shoulder blade, 30 mm x 12 mm (Back)" in html.unescape(injuries)


# -- access as for injuries -----------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["examiner.south", "counsellor", "officer", "custodian", "admin", "auditor"]
)
def test_no_one_else_places_or_sees_a_mark(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine, username: str
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    x, y = FOREARM_POINT
    call(
        app,
        "examiner",
        services.add_injury,
        exam_id=exam_id,
        injury=INJURY,
        mark=MarkRequest("adult-female", "front", Decimal(x), Decimal(y)),
    )
    before = count_versions(engine)
    login(client, username, PASSWORD)
    for path in (f"/exams/{exam_id}/injuries", f"/exams/{exam_id}/injuries/1"):
        assert client.get(f"{path}?show=adult-female:front").status_code in (403, 404)
        token = csrf_token(client, "/")  # the sign-out form's: a valid token of theirs
        data = injury_form(drawing="adult-female:front", mark_x=x, mark_y=y)
        assert client.post(path, data=data | {"csrf_token": token}).status_code in (403, 404)
    assert count_versions(engine) == before


def test_the_api_cannot_write_a_mark(app: Flask, client: FlaskClient, world: World) -> None:
    """Marks are written by the exam service only, like every finding."""
    case = open_case(app)
    example = json.loads(
        (PROFILES_DIR / "examples/Observation-example-mapped-injury.json").read_text()
    )
    example.pop("id")
    example["meta"].pop("versionId")
    example["meta"].pop("lastUpdated")
    example["subject"] = {"reference": f"Patient/{case.patient_id}"}
    example.pop("encounter")
    response = api(client, "POST", "/fhir/Observation", world["examiner"].token, example)
    assert response.status_code == 422
    assert "recorded in the exam itself" in response.get_data(as_text=True)


# -- her left and her right -------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawing", "site", "her_left_on_the_viewers_right"),
    [
        ("adult-female:front", "left forearm, inner side", True),
        ("adult-female:back", "left forearm, back of it", False),
        ("adult-male:front", "right forearm", True),
        ("child:back", "right forearm", False),
    ],
)
def test_a_keyboard_mark_goes_on_the_side_the_place_names(
    app: Flask,
    client: FlaskClient,
    world: World,
    drawing: str,
    site: str,
    her_left_on_the_viewers_right: bool,
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    assert post_injury(client, exam_id, site=site, drawing=drawing).status_code == 302
    mark = mark_of(app, exam_id, "injury:1")
    on_viewers_right = float(mark.x) > 100
    names_left = "left" in site
    assert on_viewers_right == (names_left == her_left_on_the_viewers_right)
    assert diagram_book().drawings[drawing].region_at(float(mark.x), float(mark.y)) == "forearm"


def test_a_tap_on_her_other_side_is_refused(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    # 58.5 is the mirror of 141.5: her right forearm on the front view.
    response = post_injury(
        client, exam_id, drawing="adult-female:front", mark_x="58.5", mark_y="180"
    )
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert (
        "The mark is on her right forearm, but “Exactly where” says left: tap her left "
        "forearm, or correct “Exactly where”." in text
    )
    assert 'href="#site"' in text
    assert count_versions(engine) == before
    # A place naming no side, or both, takes the tap as it is.
    assert (
        post_injury(
            client,
            exam_id,
            site="both forearms, left and right",
            drawing="adult-female:front",
            mark_x="58.5",
            mark_y="180",
        ).status_code
        == 302
    )
