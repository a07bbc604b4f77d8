"""The versioned FHIR resource store.

Persistence only: the decision point is asked by the services that call this
module (clinic.fhir.services), never here. Every write validates the resource
(clinic.fhir.validation), writes a new version row, moves the head and rebuilds
the search index, in the caller's transaction.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.access.policy import CLINICAL_KINDS, ResourceFacts
from clinic.access.terms import data_classes_of, exam_answer_of
from clinic.core.clock import isoformat, utcnow
from clinic.fhir.canonical import RESTRICTED_LABEL, SEXUAL_VIOLENCE_LABEL
from clinic.fhir.invariants import evaluate, may_have_elements
from clinic.fhir.models import ReferenceIndex, ResourceVersion, StoredResource, TokenIndex
from clinic.fhir.outcome import FhirError
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.search_params import TYPE_PARAMS
from clinic.fhir.validation import validate_resource

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

# Labels every clinical resource carries (docs/design.md section 5).
REQUIRED_CLINICAL_LABELS = (SEXUAL_VIOLENCE_LABEL, RESTRICTED_LABEL)


@dataclass(frozen=True)
class StoredVersion:
    resource_type: str
    logical_id: str
    version_id: int
    last_updated: datetime
    site_id: str | None
    subject: str | None
    security_labels: tuple[str, ...]
    content: dict[str, Any]
    change: str = "create"
    author_id: str | None = None  # the user who wrote this version
    # The stored JSON text and the dict parsed from it, when read from the store.
    stored: tuple[str, dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    def json_text(self) -> str:
        """The content as JSON: the stored bytes as they are while `content` is still
        the very dict parsed from them (no obligation replaced it: those build a new
        dict, never change this one), else the content serialised as the store does."""
        if self.stored is not None and self.stored[1] is self.content:
            return self.stored[0]
        return json.dumps(self.content, separators=(",", ":"), ensure_ascii=False)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.logical_id}"

    @property
    def versioned_reference(self) -> str:
        return f"{self.reference}/_history/{self.version_id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    def facts(self) -> ResourceFacts:
        return ResourceFacts(
            kind=self.resource_type,
            logical_id=self.logical_id,
            site_id=self.site_id,
            security_labels=frozenset(self.security_labels),
            subject=self.subject,
            data_classes=data_classes_of(self.resource_type, self.content),
            exam_answer=exam_answer_of(self.resource_type, self.content),
        )


# -- search criteria -----------------------------------------------------------


@dataclass(frozen=True)
class TokenCriterion:
    param: str
    values: tuple[tuple[str | None, str], ...]  # (system or None for any, code)


@dataclass(frozen=True)
class ReferenceCriterion:
    param: str
    targets: tuple[tuple[str, str], ...]  # (type, id)


@dataclass(frozen=True)
class IdCriterion:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class DateCriterion:
    param: str
    lower: datetime | None  # inclusive
    upper: datetime | None  # exclusive


Criterion = TokenCriterion | ReferenceCriterion | IdCriterion | DateCriterion


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, width: int) -> tuple[Any, ...]:
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        moment = datetime.fromisoformat(values[0])
        if moment.tzinfo is None:
            raise ValueError
        return (moment, *values[1:])
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise FhirError.single(
            400, "invalid", "_cursor is not a cursor this server issued", "_cursor"
        ) from error


class ResourceStore:
    def __init__(self, session: Session, registry: ProfileRegistry) -> None:
        self.session = session
        self.registry = registry

    # -- writes ------------------------------------------------------------------

    def create(
        self,
        data: dict[str, Any],
        *,
        site_id: str | None,
        author_id: str | None,
        logical_id: str | None = None,
    ) -> StoredVersion:
        logical_id = logical_id or str(uuid.uuid4())
        now = _to_millisecond(utcnow())
        content = self._prepare(data, logical_id, 1, now, previous_labels=())
        version = self._write(content, site_id, author_id, now, head=None)
        return version

    def update(
        self,
        resource_type: str,
        logical_id: str,
        data: dict[str, Any],
        *,
        author_id: str | None,
        expected_version: int | None,
        labels_removed: frozenset[str] = frozenset(),
    ) -> StoredVersion:
        """A new version. Security labels only grow, except those a domain service
        removes on purpose (`labels_removed`, "system|code"): a correction made by
        its rules, with its reason (a photograph found not to be intimate). The
        FHIR API never passes any."""
        head = self._head(resource_type, logical_id, lock=True)
        if head is None:
            raise FhirError.single(404, "not-found", f"{resource_type}/{logical_id} is not known")
        if expected_version is not None and expected_version != head.version_id:
            raise FhirError.single(
                412,
                "conflict",
                f"If-Match names version {expected_version} but the current version is "
                f"{head.version_id}; read it again and reapply your change",
            )
        body_id = data.get("id")
        if body_id is not None and body_id != logical_id:
            raise FhirError.single(
                400,
                "invalid",
                f"the body's id {body_id} does not match the URL's {logical_id}",
                "id",
            )
        now = max(_to_millisecond(utcnow()), head.last_updated)
        previous = self.version(resource_type, logical_id, head.version_id)
        assert previous is not None
        content = self._prepare(
            data,
            logical_id,
            head.version_id + 1,
            now,
            previous_labels=tuple(
                label for label in head.security_labels if label not in labels_removed
            ),
            previous_flags=_record_flags(previous.content),
        )
        return self._write(content, head.site_id, author_id, now, head=head)

    def _prepare(
        self,
        data: dict[str, Any],
        logical_id: str,
        version_id: int,
        now: datetime,
        previous_labels: tuple[str, ...],
        previous_flags: tuple[dict[str, Any], ...] = (),
    ) -> dict[str, Any]:
        """Set id and meta, add required labels, then validate the result."""
        if not isinstance(data, dict):
            raise FhirError.single(400, "structure", "the body is not a JSON object")
        if not ID_PATTERN.match(logical_id):
            raise FhirError.single(400, "invalid", f"{logical_id!r} is not a valid FHIR id", "id")
        content = json.loads(json.dumps(data))  # a private copy
        resource_type = content.get("resourceType")
        meta = content.get("meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        content["id"] = logical_id
        meta["versionId"] = str(version_id)
        meta["lastUpdated"] = isoformat(now)
        profile = self.registry.default_profiles.get(str(resource_type))
        if profile and profile not in meta.get("profile", []):
            meta["profile"] = [*meta.get("profile", []), profile]
        labels = [label for label in meta.get("security", []) if isinstance(label, dict)]
        present = {(label.get("system"), label.get("code")) for label in labels}
        wanted: list[tuple[str, str]] = []
        if resource_type in CLINICAL_KINDS:
            wanted.extend(REQUIRED_CLINICAL_LABELS)
        # Labels only ever grow: an update cannot make a record less sensitive.
        wanted.extend(tuple(label.split("|", 1)) for label in previous_labels)  # type: ignore[misc]
        for system, code in wanted:
            if (system, code) not in present:
                labels.append({"system": system, "code": code})
                present.add((system, code))
        if labels:
            meta["security"] = labels
        # Record flags (e.g. anonymous: no identity held) only ever stay, like labels:
        # an update cannot quietly turn an anonymous record into an identified one.
        tags = [tag for tag in meta.get("tag", []) if isinstance(tag, dict)]
        for flag in previous_flags:
            if not any(
                (t.get("system"), t.get("code")) == (flag["system"], flag["code"]) for t in tags
            ):
                tags.append(flag)
        if tags:
            meta["tag"] = tags
        content["meta"] = meta
        validate_resource(content, self.registry)
        return content

    def _write(
        self,
        content: dict[str, Any],
        site_id: str | None,
        author_id: str | None,
        now: datetime,
        *,
        head: StoredResource | None,
    ) -> StoredVersion:
        """Write a version; `head` is the locked head row of an update, None to create."""
        resource_type, logical_id = content["resourceType"], content["id"]
        change = "create" if head is None else "update"
        version_id = int(content["meta"]["versionId"])
        labels = sorted(
            f"{label.get('system')}|{label.get('code')}"
            for label in content["meta"].get("security", [])
        )
        subject = _subject_of(content)
        if head is None:
            if self.session.get(StoredResource, (resource_type, logical_id)) is not None:
                raise FhirError.single(
                    409, "duplicate", f"{resource_type}/{logical_id} already exists"
                )
            head = StoredResource(resource_type=resource_type, logical_id=logical_id)
            self.session.add(head)
        head.version_id = version_id
        head.last_updated = now
        head.site_id = site_id
        head.subject = subject
        head.security_labels = labels
        self.session.flush()  # the head row first: versions reference it
        self.session.add(
            ResourceVersion(
                resource_type=resource_type,
                logical_id=logical_id,
                version_id=version_id,
                last_updated=now,
                site_id=site_id,
                subject=subject,
                security_labels=labels,
                change=change,
                author_id=author_id,
                content=json.dumps(content, separators=(",", ":"), ensure_ascii=False),
            )
        )
        self.session.flush()
        self._reindex(resource_type, logical_id, content, replacing=change == "update")
        return StoredVersion(
            resource_type,
            logical_id,
            version_id,
            now,
            site_id,
            subject,
            tuple(labels),
            content,
            change,
            author_id,
        )

    def _reindex(
        self, resource_type: str, logical_id: str, content: dict[str, Any], *, replacing: bool
    ) -> None:
        """The search index rows of this version (`replacing` those of the previous
        one; a new resource has none yet)."""
        for table in (TokenIndex, ReferenceIndex) if replacing else ():
            self.session.execute(
                sa.delete(table).where(
                    table.resource_type == resource_type, table.logical_id == logical_id
                )
            )
        for param in TYPE_PARAMS.get(resource_type, ()):
            if param.expression is None or not _may_match(content, param.expression):
                continue
            for node in evaluate(content, param.expression):
                if param.type == "token":
                    for system, code in _tokens(node):
                        self.session.add(
                            TokenIndex(
                                resource_type=resource_type,
                                logical_id=logical_id,
                                param=param.name,
                                system=system,
                                code=code,
                            )
                        )
                elif param.type == "reference" and isinstance(node, dict):
                    target = _local_reference(node.get("reference"))
                    if target and target[0] in param.target_types:
                        self.session.add(
                            ReferenceIndex(
                                resource_type=resource_type,
                                logical_id=logical_id,
                                param=param.name,
                                target_type=target[0],
                                target_id=target[1],
                            )
                        )
        self.session.flush()

    # -- reads -------------------------------------------------------------------

    def _head(
        self, resource_type: str, logical_id: str, lock: bool = False
    ) -> StoredResource | None:
        query = sa.select(StoredResource).where(
            StoredResource.resource_type == resource_type, StoredResource.logical_id == logical_id
        )
        if lock:
            query = query.with_for_update()
        return self.session.scalar(query)

    def current(self, resource_type: str, logical_id: str) -> StoredVersion | None:
        self.session.flush()  # this unit of work's writes are seen, as by an ORM query
        row = self.session.execute(
            _CURRENT_BY_ID, {"resource_type": resource_type, "logical_id": logical_id}
        ).one_or_none()
        return _stored(row) if row else None

    def version(self, resource_type: str, logical_id: str, version_id: int) -> StoredVersion | None:
        version = ResourceVersion
        row = self.session.execute(
            sa.select(*_VERSION_COLUMNS).where(
                version.resource_type == resource_type,
                version.logical_id == logical_id,
                version.version_id == version_id,
            )
        ).one_or_none()
        return _stored(row) if row else None

    def of_subject(self, resource_type: str, subject: str) -> list[StoredVersion]:
        """Current versions of a type about one subject (Patient/<id>), oldest first."""
        head = StoredResource
        query = (
            _current_versions(resource_type)
            .where(head.subject == subject)
            .order_by(head.last_updated, head.logical_id)
        )
        return [_stored(row) for row in self.session.execute(query)]

    def search(
        self,
        resource_type: str,
        criteria: Sequence[Criterion],
        *,
        site_ids: frozenset[str] | None,
        after: tuple[Any, ...] | None,
        before: tuple[Any, ...] | None,
        limit: int,
    ) -> list[StoredVersion]:
        """Current versions matching all criteria, in (lastUpdated, id) order,
        strictly after `after` or (reading backwards) strictly before `before`."""
        head = StoredResource
        query = _current_versions(resource_type)
        if site_ids is not None:
            query = query.where(head.site_id.in_(site_ids))
        for criterion in criteria:
            query = query.where(_criterion_clause(resource_type, criterion))
        key = sa.tuple_(head.last_updated, head.logical_id)
        if before is not None:
            query = query.where(key < sa.tuple_(*before)).order_by(
                head.last_updated.desc(), head.logical_id.desc()
            )
        else:
            if after is not None:
                query = query.where(key > sa.tuple_(*after))
            query = query.order_by(head.last_updated, head.logical_id)
        rows = [_stored(row) for row in self.session.execute(query.limit(limit))]
        return rows[::-1] if before is not None else rows

    def history(
        self,
        resource_type: str,
        logical_id: str | None,
        *,
        site_ids: frozenset[str] | None,
        since: datetime | None,
        after: tuple[Any, ...] | None,
        before: tuple[Any, ...] | None,
        limit: int,
    ) -> list[StoredVersion]:
        """Versions newest first, keyed by (lastUpdated, id, version)."""
        version = ResourceVersion
        query = sa.select(*_VERSION_COLUMNS).where(version.resource_type == resource_type)
        if logical_id is not None:
            query = query.where(version.logical_id == logical_id)
        if site_ids is not None:
            query = query.where(version.site_id.in_(site_ids))
        if since is not None:
            query = query.where(version.last_updated >= since)
        key = sa.tuple_(version.last_updated, version.logical_id, version.version_id)
        if before is not None:
            query = query.where(key > sa.tuple_(*before)).order_by(
                version.last_updated, version.logical_id, version.version_id
            )
        else:
            if after is not None:
                query = query.where(key < sa.tuple_(*after))
            query = query.order_by(
                version.last_updated.desc(), version.logical_id.desc(), version.version_id.desc()
            )
        rows = [_stored(row) for row in self.session.execute(query.limit(limit))]
        return rows[::-1] if before is not None else rows


# A version's columns as plain rows: the read path needs no ORM objects.
_VERSION_COLUMNS = tuple(ResourceVersion.__table__.c)


def _current_versions(resource_type: str) -> sa.Select[Any]:
    """The current version of every resource of a type (the head's version)."""
    head = StoredResource
    return (
        sa.select(*_VERSION_COLUMNS)
        .join(
            head,
            sa.and_(
                head.resource_type == ResourceVersion.resource_type,
                head.logical_id == ResourceVersion.logical_id,
                head.version_id == ResourceVersion.version_id,
            ),
        )
        .where(head.resource_type == resource_type)
    )


_heads = StoredResource.__table__
_versions = ResourceVersion.__table__
# The current version of one resource, built once: a read sends it on every request.
_CURRENT_BY_ID = (
    sa.select(*_versions.c)
    .join(
        _heads,
        sa.and_(
            _heads.c.resource_type == _versions.c.resource_type,
            _heads.c.logical_id == _versions.c.logical_id,
            _heads.c.version_id == _versions.c.version_id,
        ),
    )
    .where(
        _heads.c.resource_type == sa.bindparam("resource_type"),
        _heads.c.logical_id == sa.bindparam("logical_id"),
    )
)


def _to_millisecond(moment: datetime) -> datetime:
    """meta.lastUpdated carries milliseconds; the stored time is exactly that."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _stored(row: Any) -> StoredVersion:
    """A version row (a ResourceVersion or a row of its columns) as a StoredVersion."""
    content = json.loads(row.content)
    return StoredVersion(
        row.resource_type,
        row.logical_id,
        row.version_id,
        row.last_updated,
        row.site_id,
        row.subject,
        tuple(row.security_labels),
        content,
        row.change,
        row.author_id,
        (row.content, content),
    )


def _record_flags(content: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    from clinic.fhir.canonical import CODE_SYSTEM

    return tuple(
        tag
        for tag in (content.get("meta") or {}).get("tag", [])
        if isinstance(tag, dict) and tag.get("system") == f"{CODE_SYSTEM}/record-flag"
    )


def _may_match(content: dict[str, Any], expression: str) -> bool:
    """False only when the search parameter's expression (paths joined by `|`)
    certainly finds nothing in this resource, so that evaluating it can be skipped.
    A part that is not a plain path (or a `|` inside one) is always evaluated."""
    return any(may_have_elements(content, part.strip()) for part in expression.split("|"))


def _subject_of(content: dict[str, Any]) -> str | None:
    if content["resourceType"] == "Patient":
        return f"Patient/{content['id']}"
    subject = content.get("subject") or content.get("patient") or {}
    if content["resourceType"] == "Appointment":
        # Her appointment: she is the participant who is a Patient.
        subject = next(
            (
                p["actor"]
                for p in content.get("participant", [])
                if isinstance(p, dict)
                and isinstance(p.get("actor"), dict)
                and str(p["actor"].get("reference", "")).startswith("Patient/")
            ),
            {},
        )
    target = _local_reference(subject.get("reference") if isinstance(subject, dict) else None)
    return f"{target[0]}/{target[1]}" if target else None


def _local_reference(reference: Any) -> tuple[str, str] | None:
    if not isinstance(reference, str):
        return None
    parts = reference.split("/")
    if len(parts) == 2 and ID_PATTERN.match(parts[1]):
        return parts[0], parts[1]
    return None


def _tokens(node: Any) -> list[tuple[str | None, str]]:
    if isinstance(node, dict) and "value" in node:  # Identifier
        return [(node.get("system"), str(node["value"]))]
    if isinstance(node, dict) and "coding" in node:  # CodeableConcept
        return [(c.get("system"), c["code"]) for c in node["coding"] if "code" in c]
    if isinstance(node, dict) and "code" in node:  # Coding
        return [(node.get("system"), node["code"])]
    if isinstance(node, str):
        return [(None, node)]
    return []


def _criterion_clause(resource_type: str, criterion: Criterion) -> sa.ColumnElement[bool]:
    head = StoredResource
    if isinstance(criterion, IdCriterion):
        return head.logical_id.in_(criterion.ids)
    if isinstance(criterion, DateCriterion):
        clauses = []
        if criterion.lower is not None:
            clauses.append(head.last_updated >= criterion.lower)
        if criterion.upper is not None:
            clauses.append(head.last_updated < criterion.upper)
        return sa.and_(sa.true(), *clauses)
    if isinstance(criterion, TokenCriterion):
        options = [
            sa.and_(
                TokenIndex.code == code,
                sa.true()
                if system is None
                else (TokenIndex.system.is_(None) if system == "" else TokenIndex.system == system),
            )
            for system, code in criterion.values
        ]
        return sa.exists().where(
            TokenIndex.resource_type == resource_type,
            TokenIndex.logical_id == head.logical_id,
            TokenIndex.param == criterion.param,
            sa.or_(*options),
        )
    options = [
        sa.and_(ReferenceIndex.target_type == target_type, ReferenceIndex.target_id == target_id)
        for target_type, target_id in criterion.targets
    ]
    return sa.exists().where(
        ReferenceIndex.resource_type == resource_type,
        ReferenceIndex.logical_id == head.logical_id,
        ReferenceIndex.param == criterion.param,
        sa.or_(*options),
    )
