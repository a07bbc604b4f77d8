"""The words of the printed referral letter, in each language the clinic prints it
in (one table, as clinic/consent/words.py does for the consent forms)."""

from __future__ import annotations

from clinic.followup.terms import SERVICE_KINDS

LETTER_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Referral",
        "to": "To",
        "from": "From",
        "date": "Date",
        "reference": "Referral reference",
        "asked": "We are referring the person named below to your service, with her agreement.",
        "asked_anonymous": "We are referring a person to your service, with her agreement. She did not agree to share her name or contact details: she will contact you herself, quoting the referral reference.",
        "name": "Name",
        "phone": "Phone",
        "email": "Email",
        "not_recorded": "not recorded",
        "treatment": "Treatment she received",
        "reason": "What she would like from you",
        "only": "This letter carries only the information she agreed to share with you. Please do not ask us for more without her.",
        "reply": "Please tell us whether you accept the referral, and when she has been seen.",
    },
    "fr": {
        "title": "Orientation",
        "to": "À",
        "from": "De",
        "date": "Date",
        "reference": "Référence de l'orientation",
        "asked": "Nous vous adressons la personne nommée ci-dessous, avec son accord.",
        "asked_anonymous": "Nous vous adressons une personne, avec son accord. Elle n'a pas accepté de partager son nom ni ses coordonnées : elle vous contactera elle-même en citant la référence de l'orientation.",
        "name": "Nom",
        "phone": "Téléphone",
        "email": "Courriel",
        "not_recorded": "non renseigné",
        "treatment": "Soins reçus",
        "reason": "Ce qu'elle attend de vous",
        "only": "Ce courrier ne contient que les informations qu'elle a accepté de partager avec vous. Merci de ne pas nous en demander davantage sans elle.",
        "reply": "Merci de nous dire si vous acceptez l'orientation, et quand elle a été reçue.",
    },
    "es": {
        "title": "Derivación",
        "to": "A",
        "from": "De",
        "date": "Fecha",
        "reference": "Referencia de la derivación",
        "asked": "Derivamos a su servicio a la persona nombrada abajo, con su acuerdo.",
        "asked_anonymous": "Derivamos a una persona a su servicio, con su acuerdo. No aceptó compartir su nombre ni sus datos de contacto: ella misma les contactará citando la referencia de la derivación.",
        "name": "Nombre",
        "phone": "Teléfono",
        "email": "Correo electrónico",
        "not_recorded": "no consta",
        "treatment": "Tratamiento recibido",
        "reason": "Lo que ella desea de ustedes",
        "only": "Esta carta solo contiene la información que ella aceptó compartir con ustedes. Por favor, no nos pidan más sin ella.",
        "reply": "Por favor, indíquennos si aceptan la derivación y cuándo ha sido atendida.",
    },
}

# The kinds of service, as the letter names them.
LETTER_SERVICE_KINDS: dict[str, dict[str, str]] = {
    "en": SERVICE_KINDS,
    "fr": {
        "refuge": "Refuge ou hébergement",
        "independent-advocate": "Intervenant indépendant en violences sexuelles",
        "legal-aid": "Aide juridique",
        "housing": "Logement",
        "mental-health": "Santé mentale",
        "sexual-health": "Santé sexuelle",
        "childrens-services": "Services de l'enfance",
        "substance-use": "Addictions",
        "immigration-advice": "Conseil en immigration",
    },
    "es": {
        "refuge": "Refugio o casa de acogida",
        "independent-advocate": "Persona de apoyo independiente en violencia sexual",
        "legal-aid": "Asistencia jurídica",
        "housing": "Vivienda",
        "mental-health": "Salud mental",
        "sexual-health": "Salud sexual",
        "childrens-services": "Servicios de infancia",
        "substance-use": "Consumo de sustancias",
        "immigration-advice": "Asesoría de inmigración",
    },
}


def letter_words(language: str) -> dict[str, str]:
    return LETTER_WORDS.get(language, LETTER_WORDS["en"])


def service_kind_words(language: str) -> dict[str, str]:
    return LETTER_SERVICE_KINDS.get(language, SERVICE_KINDS)
