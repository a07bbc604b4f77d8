"""The logs' trust anchors kept outside the database.

Someone with write access to the database can rewrite a log, recompute its tree
and sign new checkpoints; they must not also be able to say which keys are to be
believed, nor erase what was signed before. So:

* the trusted verifier keys are a file (LOG_VERIFIER_KEYS, one c2sp.org/signed-note
  verifier key a line, retired keys included), written when a key is generated;
  the server signs, publishes and verifies with those keys only, whatever the
  `signing_keys` table says;
* each signed checkpoint is appended to an export file per log
  (LOG_CHECKPOINT_EXPORT), synced to disk before the checkpoint is committed; the
  operator ships it off the machine, and `verify` compares the log with every
  checkpoint in it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clinic.ledger.standalone import VerificationError, VerifierKey, parse_verifier_key

DEFAULT_VERIFIER_KEYS = "log-verifier-keys.txt"
DEFAULT_CHECKPOINT_EXPORT = "checkpoints/{log}.log"


class TrustFileError(Exception):
    """A trust file cannot be read as it should be; the message says where and why."""


@dataclass(frozen=True)
class ExportedCheckpoint:
    number: int  # 1-based position in the export file
    note: str


@dataclass(frozen=True)
class LogFiles:
    verifier_keys_file: Path
    checkpoint_export: str  # a path, where "{log}" stands for the log's name

    @classmethod
    def from_config(cls, instance_path: Path, config: Mapping[str, object]) -> LogFiles:
        keys = config.get("LOG_VERIFIER_KEYS") or instance_path / DEFAULT_VERIFIER_KEYS
        export = config.get("LOG_CHECKPOINT_EXPORT") or str(
            instance_path / DEFAULT_CHECKPOINT_EXPORT
        )
        if "{log}" not in str(export):
            raise TrustFileError(
                f"LOG_CHECKPOINT_EXPORT must contain {{log}} (one file per log): {export}"
            )
        return cls(Path(str(keys)), str(export))

    # -- trusted verifier keys -------------------------------------------------------

    def trusted_keys(self) -> list[VerifierKey]:
        """The keys the server may sign, publish and verify with; none if the file
        does not exist yet (no key was ever generated here)."""
        try:
            text = self.verifier_keys_file.read_text()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise TrustFileError(f"cannot read {self.verifier_keys_file}: {error}") from error
        keys = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(parse_verifier_key(line))
            except VerificationError as error:
                raise TrustFileError(
                    f"{self.verifier_keys_file}, line {number}, is not a verifier key: {error}"
                ) from error
        return keys

    def is_trusted(self, key: VerifierKey) -> bool:
        return key in self.trusted_keys()

    def trust(self, key: VerifierKey) -> bool:
        """Add `key` to the trusted keys file (created if need be); False if it was
        there already."""
        if self.is_trusted(key):
            return False
        _append_synced(self.verifier_keys_file, f"{key}\n", mode=0o644)
        return True

    # -- exported checkpoints ----------------------------------------------------------

    def export_path(self, log_name: str) -> Path:
        return Path(self.checkpoint_export.replace("{log}", log_name))

    def export_checkpoint(self, log_name: str, note: str) -> None:
        """Append a signed checkpoint to the log's export file (mode 0600, synced
        to disk). Notes are separated by a blank line."""
        _append_synced(self.export_path(log_name), note + "\n", mode=0o600)

    def exported_checkpoints(self, log_name: str) -> list[ExportedCheckpoint]:
        """Every checkpoint exported for `log_name`, in the order signed."""
        path = self.export_path(log_name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise TrustFileError(f"cannot read {path}: {error}") from error
        # Each note is "body\n\nsignatures\n" followed by one blank line.
        parts = text.split("\n\n")
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) % 2:
            raise TrustFileError(f"{path} ends with an incomplete checkpoint")
        return [
            ExportedCheckpoint(number, f"{parts[i]}\n\n{parts[i + 1]}\n")
            for number, i in enumerate(range(0, len(parts), 2), start=1)
        ]


def _append_synced(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
