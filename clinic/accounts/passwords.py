"""What a password must be: long enough, not easy to guess, not the username.

Guessability is estimated offline by zxcvbn (Dropbox's estimator: dictionaries of
common passwords, names and words, keyboard patterns, repeats, sequences, dates
and l33t substitutions), which knows `password1234`, `aaaaaaaaaaaa` and
`Password1234!` for what they are. Nothing leaves the machine.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

from clinic.i18n import N_
from clinic.i18n.sentences import sentence

MIN_PASSWORD_LENGTH = 12
# zxcvbn's score, 0 to 4: 3 is "safely unguessable: moderate protection from an
# offline slow-hash scenario" (about 10^8 guesses or more).
MIN_STRENGTH = 3
# zxcvbn refuses longer input (its cost grows fast with length); the beginning of
# a longer password is estimated, and a long password is rarely weak after a
# strong beginning.
_ESTIMATED_CHARACTERS = 72


class PasswordRefused(ValueError):
    """Why a password cannot be used, in a sentence fit to show."""


def check_password(password: str, *, username: str, display_name: str | None = None) -> None:
    """Raise PasswordRefused unless the password is at least MIN_PASSWORD_LENGTH
    characters, does not contain the username, and zxcvbn scores it MIN_STRENGTH or
    more knowing the username and the person's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused(
            sentence(
                "The password must have at least %(count)s characters.", count=MIN_PASSWORD_LENGTH
            )
        )
    if username and username.casefold() in password.casefold():
        raise PasswordRefused(N_("The password must not contain the username."))
    hints = [username, *(display_name or "").split()]
    estimate = zxcvbn(password[:_ESTIMATED_CHARACTERS], user_inputs=[h for h in hints if h])
    if int(estimate["score"]) < MIN_STRENGTH:
        raise PasswordRefused(
            N_(
                "This password is too easy to guess: it is a common password, a name, a "
                "simple pattern or close to one. Choose a phrase of three or four words "
                "that are not often found together."
            )
        )
