"""What the log's verification reports, said in the reader's language.

The verifier (clinic.ledger.services, and the standalone verifier it shares its
checks with) reports in English: `clinic log verify` and `clinic-verify` print it,
and the audit trail records it ("verification: ..."). A screen reads the English
back by its shapes, as the audit list reads reasons (clinic.access.said), nested
where a problem wraps another (a checkpoint that does not verify, and why). What
has no known shape, such as the operating system's words for a file it cannot
read, is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clinic.access.said import Shape, read_back
from clinic.i18n import N_
from clinic.i18n.sentences import Sentence

_NUMBER = (r"\d+", str)


def _nested(shapes: Callable[[], tuple[Shape, ...]], *, others_as_written: bool) -> Any:
    def read(text: str) -> Any:
        said = read_back(text, shapes())
        if said is not None:
            return said
        return text if others_as_written else None

    return (r".+", read)


# Why a signed note, a checkpoint, a verifier key or an inclusion proof is refused
# (clinic.ledger.standalone), or a proof cannot be had yet (clinic.ledger.services).
NOTE_SHAPES: tuple[Shape, ...] = (
    Shape(N_("the note contains control characters")),
    Shape(N_("the note does not end with a newline")),
    Shape(N_("the note has no blank line before its signatures")),
    Shape(N_("not a signature line: %(line)s")),
    Shape(N_("a signature line has the wrong number of fields")),
    Shape(N_("a signature is not base64")),
    Shape(N_("a signature is too short")),
    Shape(N_("the signature by %(name)s does not verify")),
    Shape(N_("the note carries no signature by a trusted key")),
    Shape(N_("a checkpoint is at least three non-empty lines")),
    Shape(N_("the checkpoint's tree size is not a decimal number")),
    Shape(N_("the checkpoint's root hash is not base64")),
    Shape(N_("the checkpoint's root hash is not 32 bytes")),
    Shape(N_("%(name)s is not a valid key name (no spaces or '+')")),
    Shape(N_("a verifier key is name+keyid+key")),
    Shape(N_("the verifier key is not an Ed25519 signed-note key")),
    Shape(N_("the verifier key's id does not match its name and key")),
    Shape(
        N_("the verifier key is not well formed: %(error)s"),
        values={"error": (r".+", str)},
    ),
    # An event's inclusion proof (a custody chain, checked as an outside verifier would).
    Shape(N_("the proof has no blank line before its checkpoint")),
    Shape(N_("the proof does not start with %(header)s")),
    Shape(N_("the proof has no index line")),
    Shape(N_("the proof's index is not a decimal number")),
    Shape(N_("a proof hash is not base64")),
    Shape(N_("a proof hash is not 32 bytes")),
    Shape(N_("the checkpoint is from log %(found)s, not %(expected)s")),
    Shape(
        N_("index %(index)s is outside a tree of size %(size)s"),
        values={"index": _NUMBER, "size": _NUMBER},
    ),
    Shape(N_("the inclusion proof is longer than the tree is deep")),
    Shape(N_("the inclusion proof is shorter than the tree is deep")),
    Shape(N_("the inclusion proof does not lead to the checkpoint's root hash")),
    Shape(N_("line %(line)s of the proof is not base64"), values={"line": _NUMBER}),
    Shape(N_("line %(line)s of the proof is not a 32-byte hash"), values={"line": _NUMBER}),
    Shape(
        N_(
            "this record is not yet integrated into the %(log)s log: run `clinic log "
            "integrate`, then ask again"
        ),
        values={"log": (r"\S+", str)},
    ),
    Shape(
        N_("no checkpoint of %(log)s covers entry %(index)s yet: run `clinic log checkpoint`"),
        values={"log": (r"\S+", str), "index": _NUMBER},
    ),
)

# Where a signed tree head was read from.
SOURCE_SHAPES: tuple[Shape, ...] = (
    Shape(N_("the signed checkpoint at size %(size)s"), values={"size": _NUMBER}),
    Shape(
        N_("exported checkpoint %(number)s in %(file)s (size %(size)s)"),
        values={"number": _NUMBER, "size": _NUMBER},
    ),
)

_ERROR = _nested(lambda: NOTE_SHAPES, others_as_written=True)
_SOURCE = _nested(lambda: SOURCE_SHAPES, others_as_written=False)

# Every problem the verification of a log reports.
PROBLEM_SHAPES: tuple[Shape, ...] = (
    Shape(
        N_(
            "the database lists signing key %(key)s, which the trusted keys file %(file)s "
            "does not: nothing it signed is believed"
        )
    ),
    Shape(
        N_("LOG_CHECKPOINT_EXPORT must contain {log} (one file per log): %(file)s"),
    ),
    Shape(N_("cannot read %(file)s: %(error)s"), values={"error": (r".+", str)}),
    Shape(
        N_("%(file)s, line %(line)s, is not a verifier key: %(error)s"),
        values={"line": _NUMBER, "error": _ERROR},
    ),
    Shape(N_("%(file)s ends with an incomplete checkpoint")),
    Shape(
        N_("the checkpoint at size %(size)s does not verify: %(error)s"),
        values={"size": _NUMBER, "error": _ERROR},
    ),
    Shape(
        N_("the checkpoint at size %(size)s names log %(found)s, not %(expected)s"),
        values={"size": _NUMBER},
    ),
    Shape(
        N_("the checkpoint at size %(size)s was altered: its signed body says otherwise"),
        values={"size": _NUMBER},
    ),
    Shape(
        N_("exported checkpoint %(number)s in %(file)s does not verify: %(error)s"),
        values={"number": _NUMBER, "error": _ERROR},
    ),
    Shape(
        N_("exported checkpoint %(number)s in %(file)s names log %(found)s, not %(expected)s"),
        values={"number": _NUMBER},
    ),
    Shape(N_("there are stored subtree hashes beyond the last entry")),
    Shape(
        N_("%(source)s covers %(count)s entries but only %(size)s are stored"),
        values={"source": _SOURCE, "size": _NUMBER},
    ),
    Shape(
        N_(
            "%(source)s does not match the entries before it: an entry up to index "
            "%(index)s was changed, or the log was rewritten"
        ),
        values={"source": _SOURCE, "index": _NUMBER},
    ),
    Shape(
        N_("the log head records %(count)s entries but %(size)s are stored"),
        values={"size": _NUMBER},
    ),
    Shape(N_("the log head's root hash does not match")),
    Shape(
        N_("entry %(index)s is missing or out of order (found index %(found)s)"),
        values={"index": _NUMBER, "found": (r"\d+|None", str)},
    ),
    Shape(N_("entry %(index)s does not match its recorded leaf hash"), values={"index": _NUMBER}),
    Shape(
        N_(
            "the stored subtree hash %(node)s that proofs are built from does not match "
            "the entries (entry %(index)s)"
        ),
        values={"index": _NUMBER},
    ),
)


def problem(text: str | None) -> Sentence | None:
    """A verification problem in the reader's language; None when it has no known
    shape (shown as written)."""
    return read_back(text, (*PROBLEM_SHAPES, *NOTE_SHAPES)) if text else None
