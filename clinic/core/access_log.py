"""gunicorn's access log for the clinic: the path only, never the query string.

Query strings carry what must not sit in a plain log file: case references and kit
labels typed into searches, usernames in `next=` after a timed-out session, FHIR
search parameters. The audit trail records who asked for what; this log records
only that a path was asked for, with its status, size and duration. Control
characters in the path (a %0A decoded) are escaped, so a line is always one line.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

# Address, time, method, path, protocol, status, bytes sent, milliseconds taken.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
_KEPT = ("h", "t", "m", "U", "H", "s", "b", "M")


def _printable(value: str) -> str:
    return "".join(
        char if 0x20 <= ord(char) < 0x7F or ord(char) > 0x9F else f"\\x{ord(char):02x}"
        for char in value
    ).replace('"', "\\x22")


class PathOnlyLogger(Logger):
    """Only the atoms of ACCESS_LOG_FORMAT are given to the format, whatever an
    operator's `access_log_format` asks for: no query string (`q`, `r`), referrer,
    user agent, headers or environment can reach the log."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        every = super().atoms(resp, req, environ, request_time)
        kept: dict[str, Any] = {name: every.get(name, "-") for name in _KEPT}
        kept["U"] = _printable(str(environ.get("PATH_INFO") or "/"))
        kept["m"] = _printable(str(kept["m"]))
        return kept  # gunicorn prints an atom that is not here as "-"
