"""The words the survivor reads outside the form definitions, in every language a
form may be read in (English, French, Spanish): on the form she fills in, on the
form as signed and printed for her, and on the case card she takes home.

One table per language, in one place next to the forms' own translations
(consent_forms/*.toml), so that a later issue can move them to gettext
catalogues in one step. Every language has every key (tests/consent check it).
Staff-facing words (the circumstances section, the dashboard) stay plain English
literals in the templates.
"""

from __future__ import annotations

from datetime import date

WORDS: dict[str, dict[str, str]] = {
    "en": {
        # The form she fills in.
        "agree": "I agree",
        "decline": "I decline",
        "free_choice": "I am making these choices freely. No one is pressuring me.",
        "sign": "Signature of the person consenting",
        "name": "Name of the person",
        "force": "Police force",
        "until": "Until (the permission ends on this date)",
        "never": "Never share anything with",
        "people": "People who must never receive anything (one per line)",
        "typed_name": "Full name of the person consenting, typed",
        # The form as signed (printed for her).
        "case": "Case",
        "form_version": "Form",
        "version": "version",
        "read_in": "read in",
        "status": "Status",
        "status_active": "in force",
        "status_inactive": "no longer in force",
        "recorded": "Recorded on",
        "replaces": "Replaces an earlier consent",
        "answers": "Your answers",
        "withdrawn": "Withdrawn",
        "not_asked": "Not asked",
        "consented_by": "Consented by",
        "the_survivor": "the person herself",
        "proxy_reason": "Why a proxy consents",
        "interpreter": "Interpreter",
        "witness": "Witness",
        "taken_by": "Consent taken by",
        "signed_how": "How it was signed",
        "signed_drawn": "Signature drawn on the screen",
        "signed_typed": "Full name typed by the person consenting, confirmed by a witness",
        "typed_signature": "Name typed as signature",
        "signature_witness": "Witness who saw the name typed",
        "withdrawal": "Withdrawal",
        "withdrawn_by": "by",
        "withdrawn_all": "all of it",
        "never_share": "Never share anything with",
        "method_in-person": "in person",
        "method_phone-verified": "by phone, identity verified",
        "method_written": "in writing",
        "role_examiner": "Forensic examiner",
        "role_counsellor": "Counsellor / advocate",
        "role_custodian": "Evidence custodian",
        "role_admin": "Administrator",
        "role_auditor": "Auditor",
        "role_police": "Police officer",
        # The case card she takes home.
        "card_title": "Case card",
        "card_reference": "Your case reference",
        "card_keep": (
            "Keep this reference somewhere safe. If you decide to report to the police, "
            "now or later, give them this reference: we release nothing to anyone unless "
            "you tell us to."
        ),
        "card_evidence": "Your evidence",
        "card_kit": "Kit",
        "card_kept_until": "kept until at least",
        "card_date_at_sealing": "a date set when it is sealed",
        "card_longer": (
            "Before that date you can ask us to keep it longer. After it, we may destroy it; "
            "two members of staff must agree and it is recorded."
        ),
    },
    "fr": {
        "agree": "J'accepte",
        "decline": "Je refuse",
        "free_choice": "Je fais ces choix librement. Personne ne me fait pression.",
        "sign": "Signature de la personne qui consent",
        "name": "Nom de la personne",
        "force": "Service de police",
        "until": "Jusqu'au (l'accord prend fin à cette date)",
        "never": "Ne jamais rien partager avec",
        "people": "Personnes qui ne doivent jamais rien recevoir (une par ligne)",
        "typed_name": "Nom complet de la personne qui consent, saisi au clavier",
        "case": "Dossier",
        "form_version": "Formulaire",
        "version": "version",
        "read_in": "lu en",
        "status": "État",
        "status_active": "en vigueur",
        "status_inactive": "n'est plus en vigueur",
        "recorded": "Enregistré le",
        "replaces": "Remplace un consentement antérieur",
        "answers": "Vos réponses",
        "withdrawn": "Retiré",
        "not_asked": "Question non posée",
        "consented_by": "Consentement donné par",
        "the_survivor": "la personne elle-même",
        "proxy_reason": "Pourquoi un représentant consent",
        "interpreter": "Interprète",
        "witness": "Témoin",
        "taken_by": "Consentement recueilli par",
        "signed_how": "Mode de signature",
        "signed_drawn": "Signature tracée à l'écran",
        "signed_typed": "Nom complet saisi par la personne qui consent, confirmé par un témoin",
        "typed_signature": "Nom saisi en guise de signature",
        "signature_witness": "Témoin qui a vu saisir le nom",
        "withdrawal": "Retrait",
        "withdrawn_by": "par",
        "withdrawn_all": "en totalité",
        "never_share": "Ne jamais rien partager avec",
        "method_in-person": "en personne",
        "method_phone-verified": "par téléphone, identité vérifiée",
        "method_written": "par écrit",
        "role_examiner": "Examinatrice médico-légale",
        "role_counsellor": "Conseillère / accompagnante",
        "role_custodian": "Responsable des scellés",
        "role_admin": "Administratrice",
        "role_auditor": "Auditrice",
        "role_police": "Agente de police",
        "card_title": "Carte de dossier",
        "card_reference": "La référence de votre dossier",
        "card_keep": (
            "Gardez cette référence en lieu sûr. Si vous décidez de porter plainte, "
            "maintenant ou plus tard, donnez cette référence à la police : nous ne "
            "transmettons rien à personne sans votre accord."
        ),
        "card_evidence": "Vos prélèvements",
        "card_kit": "Kit",
        "card_kept_until": "conservé au moins jusqu'au",
        "card_date_at_sealing": "une date fixée à sa mise sous scellés",
        "card_longer": (
            "Avant cette date, vous pouvez nous demander de le conserver plus longtemps. "
            "Ensuite, nous pouvons le détruire ; deux membres du personnel doivent "
            "l'approuver et c'est enregistré."
        ),
    },
    "es": {
        "agree": "Acepto",
        "decline": "No acepto",
        "free_choice": "Tomo estas decisiones libremente. Nadie me presiona.",
        "sign": "Firma de la persona que consiente",
        "name": "Nombre de la persona",
        "force": "Cuerpo de policía",
        "until": "Hasta (el permiso termina en esta fecha)",
        "never": "No compartir nunca nada con",
        "people": "Personas que nunca deben recibir nada (una por línea)",
        "typed_name": "Nombre completo de la persona que consiente, escrito con el teclado",
        "case": "Caso",
        "form_version": "Formulario",
        "version": "versión",
        "read_in": "leído en",
        "status": "Estado",
        "status_active": "vigente",
        "status_inactive": "ya no está vigente",
        "recorded": "Registrado el",
        "replaces": "Sustituye a un consentimiento anterior",
        "answers": "Sus respuestas",
        "withdrawn": "Retirado",
        "not_asked": "No se preguntó",
        "consented_by": "Consentimiento dado por",
        "the_survivor": "la propia persona",
        "proxy_reason": "Por qué consiente un representante",
        "interpreter": "Intérprete",
        "witness": "Testigo",
        "taken_by": "Consentimiento recogido por",
        "signed_how": "Forma de firma",
        "signed_drawn": "Firma trazada en la pantalla",
        "signed_typed": (
            "Nombre completo escrito por la persona que consiente, confirmado por un testigo"
        ),
        "typed_signature": "Nombre escrito como firma",
        "signature_witness": "Testigo que vio escribir el nombre",
        "withdrawal": "Retirada",
        "withdrawn_by": "por",
        "withdrawn_all": "en su totalidad",
        "never_share": "No compartir nunca nada con",
        "method_in-person": "en persona",
        "method_phone-verified": "por teléfono, identidad verificada",
        "method_written": "por escrito",
        "role_examiner": "Examinadora forense",
        "role_counsellor": "Consejera / acompañante",
        "role_custodian": "Responsable de custodia de pruebas",
        "role_admin": "Administradora",
        "role_auditor": "Auditora",
        "role_police": "Agente de policía",
        "card_title": "Tarjeta del caso",
        "card_reference": "La referencia de su caso",
        "card_keep": (
            "Guarde esta referencia en un lugar seguro. Si decide denunciar a la policía, "
            "ahora o más adelante, deles esta referencia: no entregamos nada a nadie "
            "a menos que usted nos lo pida."
        ),
        "card_evidence": "Sus pruebas",
        "card_kit": "Kit",
        "card_kept_until": "se conserva al menos hasta el",
        "card_date_at_sealing": "una fecha que se fija al precintarlo",
        "card_longer": (
            "Antes de esa fecha puede pedirnos que lo conservemos más tiempo. Después, "
            "podemos destruirlo; deben aprobarlo dos miembros del personal y queda registrado."
        ),
    },
}


def words_for(language: str | None) -> dict[str, str]:
    """The table for a language, English when there is none for it."""
    return WORDS.get(language or "en", WORDS["en"])


# Month names for dates she reads on paper: a day and month in words cannot be
# misread the way 06/02/2029 can (6 February or June 2).
MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}
_DATE_PATTERN = {
    "en": "{day} {month} {year}",
    "fr": "{day} {month} {year}",
    "es": "{day} de {month} de {year}",
}


def date_in_words(value: date, language: str | None) -> str:
    """A date as she would write it in her language, e.g. 6 de febrero de 2029."""
    language = language if language in MONTHS else "en"
    month = MONTHS[language][value.month - 1]
    return _DATE_PATTERN[language].format(day=value.day, month=month, year=value.year)
