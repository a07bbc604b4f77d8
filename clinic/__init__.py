"""Sexual assault medical-forensic examinations as FHIR, with chain of custody,
granular consent and survivor-controlled release."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. `config` overrides everything else (tests use it)."""
    from flask_wtf.csrf import CSRFProtect

    from clinic.config import check_passkey_requirement, check_public_address, load_config
    from clinic.consent.definitions import DefinitionError, FormLibrary
    from clinic.core.db import db
    from clinic.core.schema import SchemaOutOfDate, check_schema_current
    from clinic.core.web import check_every_view_has_a_rule, init_web
    from clinic.fhir.api import fhir_error_response
    from clinic.fhir.outcome import FhirError
    from clinic.fhir.profiles import load_profiles

    overrides = dict(config or {})
    # The command line serves no requests: it builds no URL from a Host header.
    for_cli = bool(overrides.pop("FOR_CLI", False))
    instance_path = Path(
        overrides.pop("INSTANCE_PATH", None)
        or os.environ.get("CLINIC_INSTANCE_PATH")
        or PROJECT_ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_config(instance_path, overrides))
    if not for_cli:
        check_public_address(app.config)
        relaxed = check_passkey_requirement(app.config)
        if relaxed:
            app.logger.warning("%s", relaxed)

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    db.init_app(app)
    from clinic.i18n import init_i18n

    init_i18n(app)
    app.extensions["clinic.profiles"] = load_profiles()
    try:
        app.extensions["clinic.consent_forms"] = FormLibrary()
    except DefinitionError as error:
        raise SystemExit(f"The consent forms cannot be used:\n{error}") from error
    from clinic.core.web import answer_head_as_get, apply_body_limit, refuse_nul_characters
    from clinic.media.vault import Keyring

    app.extensions["clinic.media_keys"] = Keyring(instance_path / "keys")
    from clinic.ledger.files import LogFiles, TrustFileError

    try:
        log_files = LogFiles.from_config(instance_path, app.config)
        if not for_cli:
            # A server does not start on a damaged trusted keys file (the command
            # line still starts, so that `clinic audit verify` can say what is wrong).
            log_files.trusted_keys()
    except TrustFileError as error:
        raise SystemExit(str(error)) from error
    app.extensions["clinic.log_files"] = log_files
    # Before the CSRF check, which reads the body.
    app.before_request(answer_head_as_get)
    app.before_request(apply_body_limit)
    app.before_request(refuse_nul_characters)
    from clinic.followup.schedule import ScheduleError, ScheduleLibrary

    try:
        app.extensions["clinic.followup_schedules"] = ScheduleLibrary.from_profiles(
            app.extensions["clinic.profiles"]
        )
    except ScheduleError as error:
        raise SystemExit(f"The follow-up schedule cannot be used:\n{error}") from error
    from clinic.followup.site_settings import SETTINGS_DIR as SITE_SETTINGS_DIR
    from clinic.followup.site_settings import SiteSettingsError, SiteSettingsLibrary

    try:
        app.extensions["clinic.site_settings"] = SiteSettingsLibrary(
            Path(app.config.get("CLINIC_SITE_SETTINGS_DIR") or SITE_SETTINGS_DIR)
        )
    except SiteSettingsError as error:
        raise SystemExit(f"The site settings cannot be used:\n{error}") from error
    csrf = CSRFProtect(app)
    from clinic.audit.fhir import register_handler as register_audit_events
    from clinic.evidence.fhir_api import register_operations as register_custody
    from clinic.fhir.conformance import register_handlers as register_definitions
    from clinic.fhir.provenance import register_handler as register_provenance
    from clinic.followup.referral_fhir import register_handlers as register_referrals
    from clinic.release.fhir_api import register_handlers as register_release_requests

    # What the FHIR API serves from the domains' tables, and their operations. A
    # force's release requests come before the referral status Tasks (both are Task).
    register_audit_events(app)
    register_provenance(app)
    register_release_requests(app)
    register_referrals(app)
    register_custody(app)
    register_definitions(app)

    from clinic.accounts.views import bp as accounts_bp
    from clinic.admin.views import bp as admin_bp
    from clinic.audit.views import bp as audit_bp
    from clinic.cases.views import bp as cases_bp
    from clinic.consent.views import bp as consent_bp
    from clinic.emergency.views import bp as emergency_bp
    from clinic.evidence.views import bp as evidence_bp
    from clinic.exam.views import bp as exam_bp
    from clinic.expert.views import bp as expert_bp
    from clinic.fhir.api import bp as fhir_bp
    from clinic.followup.referral_views import bp as referrals_bp
    from clinic.followup.safety_views import bp as safety_bp
    from clinic.followup.views import bp as followup_bp
    from clinic.i18n.views import bp as i18n_bp
    from clinic.media.views import bp as media_bp
    from clinic.release.views import bp as release_bp
    from clinic.web.views import bp as home_bp

    for blueprint in (
        home_bp,
        i18n_bp,
        accounts_bp,
        admin_bp,
        audit_bp,
        cases_bp,
        consent_bp,
        exam_bp,
        media_bp,
        expert_bp,
        emergency_bp,
        evidence_bp,
        followup_bp,
        referrals_bp,
        safety_bp,
        release_bp,
        fhir_bp,
    ):
        app.register_blueprint(blueprint)
    csrf.exempt(fhir_bp)  # bearer tokens only: no ambient credentials to forge
    init_web(app)
    from clinic.emergency.web import init_emergency

    init_emergency(app)
    app.register_error_handler(FhirError, fhir_error_response)
    check_every_view_has_a_rule(app)

    from clinic.web.templating import init_templates

    init_templates(app)

    if app.config["CHECK_SCHEMA"] == "on-request":
        # CLI: `clinic db upgrade` must run on an old schema; `clinic run` must not serve one.
        from clinic.core.schema import refuse_requests_until_current

        refuse_requests_until_current(app)
    elif app.config["CHECK_SCHEMA"]:
        try:
            check_schema_current(app)
        except SchemaOutOfDate as error:
            raise SystemExit(str(error)) from error
    return app
