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


def _replace_atomically(path: Path, blob: bytes) -> None:
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
    _replace_atomically(model_path, blob)
    _replace_atomically(card_path(model_path), (json.dumps(card, indent=2, default=_json_default) + "\n").encode())
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


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        st = card_path(path).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ModelSlot(Generic[M]):
    """The model in use for one path, swapped for a newer one only after it passes its checks.

    ``load`` turns a path into a model or raises ModelArtifactError. :meth:`refresh` re-reads when
    the card on disk changed since the last attempt. Until a model has loaded, :attr:`error` says
    why there is none; once one has, a newer file that fails its checks is refused (logged, in
    :attr:`rejected`) and the verified model stays in use.
    """

    def __init__(self, path: Path, load: Callable[[Path], M]) -> None:
        self.path = path
        self._load = load
        self.model: M | None = None
        self.error: str | None = "not loaded yet"
        self.rejected: str | None = None
        self._seen: tuple[int, int] | bool | None = False  # False: never tried

    def refresh(self) -> bool:
        """Load the model if its card changed since the last attempt; return True when a model was swapped in."""
        seen = _fingerprint(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            model = self._load(self.path)
        except ModelArtifactError as exc:
            if self.model is None:
                self.error = str(exc)
            else:
                self.rejected = str(exc)
                logger.error("HYDRA keeps the model in use; the new %s was refused: %s", self.path.name, exc)
            return False
        self.model, self.error, self.rejected = model, None, None
        return True
