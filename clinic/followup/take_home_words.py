"""The words of what she takes home from follow-up — the appointment card and the
aftercare sheet — in each language the clinic prints them in (one table per
language, as clinic/consent/words.py and letter_words.py do). Nothing here says
why she comes: someone who finds the paper learns only that she has appointments
at a health clinic and medicines to take. Every language has every key
(tests/followup/test_take_home.py checks it)."""

from __future__ import annotations

TAKE_HOME_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "card_title": "Appointment card",
        "phone": "Phone",
        "next": "Your next appointments",
        "none_booked": "No appointment is booked yet: we will contact you the way you chose.",
        "at": "at",
        "bring": "Please bring",
        "bring_list": "this card, any medicines you are taking, and your questions.",
        "change": "If you cannot come, please call us to change the day.",
        "sheet_title": "After your visit",
        "medicines": "Medicines",
        "no_medicines": "No medicines to take at home.",
        "due": "Coming up",
        "nothing_due": "Nothing more is planned.",
        "from": "around",
        "asap": "as soon as you can: it is overdue",
        "come_back": "Come back at once, or call emergency services, if",
        "general_signs": (
            "you have a high temperature, severe pain in your belly, heavy bleeding, a rash, "
            "yellow skin or eyes, or you feel you might harm yourself."
        ),
        "neck_signs": (
            "After pressure on the neck, serious harm can appear hours or days later. Come "
            "back at once (or call emergency services) for: difficulty breathing or "
            "swallowing, a changed or hoarse voice, neck pain or swelling, drooling, "
            "fainting, confusion or drowsiness, a seizure, weakness or numbness, vision "
            "changes, or vomiting."
        ),
        # Medicines, by the treatment given at the visit (exam-treatment codes).
        "med_hiv-pep-starter": (
            "Tablets: take them every day at the same time, for 28 days in all. Do not stop "
            "without talking to us first. If you are sick within an hour of a dose, call us."
        ),
        "med_emergency-contraception": (
            "The tablet you took at the clinic: if you are sick within 3 hours of taking it, "
            "come back at once, you need another. If your next period is more than 7 days "
            "late, or lighter or shorter than usual, do a pregnancy test."
        ),
        "med_hepatitis-b": "Vaccine: come for each next dose on the day below.",
        # What falls due, by kind of plan item.
        "item_visit": "Check-up visit",
        "item_test": "Blood test",
        "item_vaccine": "Vaccine dose",
        "item_check": "Check with us",
        "item_pregnancy-test": "Pregnancy test, if your period is late",
        "item_pep-adherence-check": "Check on how the tablets suit you",
        "item_pep-completion": "Last day of your tablets",
    },
    "fr": {
        "card_title": "Carte de rendez-vous",
        "phone": "Téléphone",
        "next": "Vos prochains rendez-vous",
        "none_booked": "Aucun rendez-vous n'est encore fixé : nous vous contacterons de la façon que vous avez choisie.",
        "at": "à",
        "bring": "Merci d'apporter",
        "bring_list": "cette carte, les médicaments que vous prenez et vos questions.",
        "change": "Si vous ne pouvez pas venir, appelez-nous pour changer de jour.",
        "sheet_title": "Après votre visite",
        "medicines": "Médicaments",
        "no_medicines": "Aucun médicament à prendre à la maison.",
        "due": "À venir",
        "nothing_due": "Rien d'autre n'est prévu.",
        "from": "vers le",
        "asap": "dès que possible : la date est passée",
        "come_back": "Revenez tout de suite, ou appelez les secours, si",
        "general_signs": (
            "vous avez une forte fièvre, une douleur intense au ventre, des saignements "
            "abondants, une éruption sur la peau, la peau ou les yeux jaunes, ou si vous "
            "pensez pouvoir vous faire du mal."
        ),
        "neck_signs": (
            "Après une pression sur le cou, des lésions graves peuvent apparaître des heures "
            "ou des jours plus tard. Revenez tout de suite (ou appelez les secours) en cas "
            "de : difficulté à respirer ou à avaler, voix changée ou enrouée, douleur ou "
            "gonflement du cou, salivation, évanouissement, confusion ou somnolence, "
            "convulsion, faiblesse ou engourdissement, troubles de la vue, ou vomissements."
        ),
        "med_hiv-pep-starter": (
            "Comprimés : prenez-les chaque jour à la même heure, pendant 28 jours en tout. "
            "N'arrêtez pas sans nous en parler. Si vous vomissez moins d'une heure après une "
            "prise, appelez-nous."
        ),
        "med_emergency-contraception": (
            "Le comprimé pris au centre : si vous vomissez dans les 3 heures qui suivent, "
            "revenez tout de suite, il vous en faut un autre. Si vos prochaines règles ont "
            "plus de 7 jours de retard, ou sont plus légères ou plus courtes que "
            "d'habitude, faites un test de grossesse."
        ),
        "med_hepatitis-b": "Vaccin : venez pour chaque dose suivante au jour indiqué ci-dessous.",
        "item_visit": "Visite de contrôle",
        "item_test": "Prise de sang",
        "item_vaccine": "Dose de vaccin",
        "item_check": "Point avec nous",
        "item_pregnancy-test": "Test de grossesse, si vos règles sont en retard",
        "item_pep-adherence-check": "Point sur la façon dont vous supportez les comprimés",
        "item_pep-completion": "Dernier jour de vos comprimés",
    },
    "es": {
        "card_title": "Tarjeta de citas",
        "phone": "Teléfono",
        "next": "Sus próximas citas",
        "none_booked": "Aún no hay ninguna cita: le contactaremos de la forma que usted eligió.",
        "at": "a las",
        "bring": "Por favor, traiga",
        "bring_list": "esta tarjeta, los medicamentos que esté tomando y sus preguntas.",
        "change": "Si no puede venir, llámenos para cambiar el día.",
        "sheet_title": "Después de su visita",
        "medicines": "Medicamentos",
        "no_medicines": "No hay medicamentos que tomar en casa.",
        "due": "Próximamente",
        "nothing_due": "No hay nada más previsto.",
        "from": "hacia el",
        "asap": "lo antes posible: la fecha ya pasó",
        "come_back": "Vuelva enseguida, o llame a emergencias, si",
        "general_signs": (
            "tiene fiebre alta, dolor fuerte en el vientre, sangrado abundante, una erupción "
            "en la piel, la piel o los ojos amarillos, o siente que podría hacerse daño."
        ),
        "neck_signs": (
            "Después de una presión en el cuello, pueden aparecer daños graves horas o días "
            "más tarde. Vuelva enseguida (o llame a emergencias) si tiene: dificultad para "
            "respirar o tragar, la voz cambiada o ronca, dolor o hinchazón en el cuello, "
            "babeo, desmayo, confusión o somnolencia, una convulsión, debilidad o "
            "entumecimiento, cambios en la vista, o vómitos."
        ),
        "med_hiv-pep-starter": (
            "Pastillas: tómelas cada día a la misma hora, durante 28 días en total. No las "
            "deje sin hablar antes con nosotros. Si vomita menos de una hora después de una "
            "toma, llámenos."
        ),
        "med_emergency-contraception": (
            "La pastilla que tomó en el centro: si vomita en las 3 horas siguientes, vuelva "
            "enseguida, necesita otra. Si su próxima regla se retrasa más de 7 días, o es "
            "más ligera o más corta de lo habitual, hágase una prueba de embarazo."
        ),
        "med_hepatitis-b": "Vacuna: venga a cada dosis siguiente el día indicado abajo.",
        "item_visit": "Visita de control",
        "item_test": "Análisis de sangre",
        "item_vaccine": "Dosis de vacuna",
        "item_check": "Revisión con nosotros",
        "item_pregnancy-test": "Prueba de embarazo, si la regla se retrasa",
        "item_pep-adherence-check": "Revisión de cómo le sientan las pastillas",
        "item_pep-completion": "Último día de sus pastillas",
    },
}
# The treatments whose medicine she continues, or has to know about, at home.
MEDICINE_TREATMENTS = ("hiv-pep-starter", "emergency-contraception", "hepatitis-b")
