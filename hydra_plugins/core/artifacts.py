"""Model files you can trust: a native model file, its ``.meta.json`` model card, and the checks.

A card names what the model needs (its features in order, its classes), what it was trained on,
how it did in walk-forward validation, the library that wrote it and the sha256 of the model file.
:func:`read_artifact` refuses a model whose bytes, features, kind or library major version do not
match, with an error that says which. The bytes it hashes are the bytes it returns, so a model
file replaced between the check and the load cannot slip through.

:func:`write_artifact` replaces the model file, then the card, each atomically (write to a
temporary file, then ``os.replace``). A reader that compares a card with the model file it
describes therefore sees either the old pair, the new pair, or a new model with the old card, which
fails the hash check and is retried: never a half-written file.

:class:`ModelSlot` keeps the model a running bot uses and swaps in a new one, after its checks,
when the card on disk changes (a retraining run finished).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from hydra_plugins.core.errors import ModelArtifactError

logger = logging.getLogger(__name__)
M = TypeVar("M")
CARD_SUFFIX = ".meta.json"


def card_path(model_path: Path) -> Path:
    """Return the model card beside ``model_path`` (``signal_scorer.cbm`` -> ``signal_scorer.meta.json``)."""
    return model_path.with_suffix(CARD_SUFFIX)


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def major(version: str) -> str:
    return str(version).split(".", 1)[0]


def replace_atomically(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is read by other users (a container)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_artifact(model_path: Path, blob: bytes, card: dict[str, Any]) -> dict[str, Any]:
    """Write a model file and its card (adding ``model_file``, ``sha256`` and ``written_at``); return the card."""
    card = {
        **card,
        "model_file": model_path.name,
        "sha256": sha256(blob),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    replace_atomically(model_path, blob)
    replace_atomically(card_path(model_path), (json.dumps(card, indent=2, default=_json_default) + "\n").encode())
    return card


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


@dataclass(frozen=True)
class Artifact:
    """A model file's verified bytes and its card."""

    path: Path
    blob: bytes
    card: dict[str, Any]


class Carded:
    """What every verified model offers beside its predictions: its card, and what the card recommends."""

    card: dict[str, Any]

    @property
    def recommended(self) -> bool:
        """Whether walk-forward validation found the model better than its baseline (the card says)."""
        return bool(self.card.get("recommended", False))


def read_card(model_path: Path) -> dict[str, Any]:
    """Return the card of ``model_path``, or raise ModelArtifactError saying what is wrong with it."""
    path = card_path(model_path)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelArtifactError(f"model card {path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(f"model card {path} is unreadable: {exc}") from None
    if not isinstance(card, dict):
        raise ModelArtifactError(f"model card {path} is not a JSON object")
    expected = {"kind": str, "sha256": str, "features": list, "library": dict}
    wrong = [key for key, kind in expected.items() if not isinstance(card.get(key), kind)]
    if wrong:
        raise ModelArtifactError(f"model card {path}: {', '.join(wrong)} missing or of the wrong type")
    return card


def read_artifact(
    model_path: Path, *, kind: str, features: Sequence[str], library: str, library_version: str
) -> Artifact:
    """Read and check a model file against its card and against what the running code expects.

    Raises ModelArtifactError naming the first failed check: card missing or unreadable, wrong
    kind, model file missing, sha256 mismatch, feature list different from ``features`` (names and
    order), or a library major version other than the installed one.
    """
    card = read_card(model_path)
    if card.get("kind") != kind:
        raise ModelArtifactError(f"{model_path}: the card says kind {card.get('kind')!r}, expected {kind!r}")
    try:
        blob = model_path.read_bytes()
    except OSError as exc:
        raise ModelArtifactError(f"model file {model_path} is unreadable: {exc}") from None
    if card.get("sha256") != sha256(blob):
        raise ModelArtifactError(
            f"{model_path}: sha256 {sha256(blob)[:12]}... does not match its card ({str(card.get('sha256'))[:12]}...)"
        )
    expected = list(features)
    got = card.get("features")
    if got != expected:
        if not isinstance(got, list):
            detail = "the card has no feature list"
        else:
            missing = [f for f in expected if f not in got]
            extra = [f for f in got if f not in expected]
            detail = f"missing {missing}, unexpected {extra}" if missing or extra else "same names, other order"
        raise ModelArtifactError(f"{model_path}: features differ from this version of HYDRA ({detail})")
    trained_with = str(card.get("library", {}).get(library, ""))
    if major(trained_with) != major(library_version):
        raise ModelArtifactError(
            f"{model_path}: written by {library} {trained_with or '(unknown)'}, installed {library} {library_version}"
        )
    return Artifact(model_path, blob, card)


def _fingerprint(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """What identifies the files on disk now: the card's and the model's (inode, mtime, size)."""

    def stat(p: Path) -> tuple[int, int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    return stat(card_path(path)), stat(path)


class ModelSlot(Generic[M]):
    """The model in use for one path, swapped for a newer one only after it passes its checks.

    ``load`` turns a path into a model or raises. :meth:`refresh` re-reads when the card or the
    model file on disk changed since the last attempt (a file written in place, or in the other
    order than ``write_artifact``'s, is retried once complete). Until a model has loaded,
    :attr:`error` says why there is none; once one has, a newer file that fails its checks is
    refused (logged, in :attr:`rejected`) and the verified model stays in use. Any exception
    from ``load`` counts as a failed check: a malformed file can never escape as a crash.
    """

    def __init__(self, path: Path, load: Callable[[Path], M]) -> None:
        self.path = path
        self._load = load
        self.model: M | None = None
        self.error: str | None = "not loaded yet"
        self.rejected: str | None = None
        self._seen: object = None  # the files' fingerprint at the last attempt (None: never tried)

    def refresh(self) -> bool:
        """Load the model if its card changed since the last attempt; return True when a model was swapped in."""
        seen = _fingerprint(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            model = self._load(self.path)
        except Exception as exc:  # a malformed file must not crash the bot: it fails its checks
            reason = str(exc) if isinstance(exc, ModelArtifactError) else f"{self.path}: unusable ({exc!r})"
            if self.model is None:
                self.error = reason
            else:
                self.rejected = reason
                logger.error("HYDRA keeps the model in use; the new %s was refused: %s", self.path.name, reason)
            return False
        self.model, self.error, self.rejected = model, None, None
        return True

    def fail(self, reason: str) -> None:
        """Drop the model in use (it failed at run time): until a file passes its checks, :attr:`error` says why."""
        logger.error("HYDRA drops the model %s: %s", self.path.name, reason)
        self.model, self.error = None, reason
