"""A trained AI-text classifier on disk: skops files (no pickle) and a manifest that loading checks."""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

import filterkit
from filterkit.io.storage import write_json

MANIFEST = "manifest.json"
ROUTER_KEY = "router"
"""The manifest key that makes a trained text head a router (``detectors.classifier.router``), with its share."""
FORMAT = 1
# Types outside scikit-learn's default trust list that our heads legitimately contain; anything else is refused.
ALLOWED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
})


class ModelFileError(ValueError):
    """A model directory that is missing, from another version, or modified since it was written."""


@dataclass
class ClassifierModel:
    """The heads of a trained detector and what they need: ``text`` always, ``stacked`` when trained with LM columns."""

    heads: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str | Path) -> Path:
        """Write each head as ``<head>.skops`` and a manifest with their SHA-256 and the library versions."""
        import skops.io as sio

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for head, model in self.heads.items():
            path = directory / f"{head}.skops"
            sio.dump(model, path, compression=zipfile.ZIP_DEFLATED)  # hashed-feature weights are mostly zeros
            files[head] = {"file": path.name, "sha256": _sha256(path)}
        manifest = {**self.manifest, "format": FORMAT, "files": files, "versions": _versions()}
        write_json(manifest, directory / MANIFEST)
        self.manifest = manifest
        return directory

    @classmethod
    def load(cls, directory: str | Path, manifest: dict[str, Any] | None = None) -> ClassifierModel:
        """Load and verify a model directory; refuse tampered files, foreign types and other library versions.

        ``manifest``: what ``read_manifest`` returned for this directory, so that it is not read again.
        """
        import skops.io as sio

        directory = Path(directory)
        manifest = manifest if manifest is not None else cls.read_manifest(directory)
        heads = {}
        for head, entry in manifest["files"].items():
            file = _inside(directory, entry["file"])
            if not file.is_file() or _sha256(file) != entry["sha256"]:
                raise ModelFileError(f"{file}: missing or modified since it was written (SHA-256 mismatch)")
            try:
                untrusted = set(sio.get_untrusted_types(file=file))
            except zipfile.BadZipFile as exc:
                raise ModelFileError(f"{file}: not a skops file ({exc})") from exc
            if untrusted - ALLOWED_TYPES:
                raise ModelFileError(f"{file}: holds types filterkit does not trust: "
                                     f"{sorted(untrusted - ALLOWED_TYPES)}")
            heads[head] = sio.load(file, trusted=sorted(untrusted))
        return cls(heads=heads, manifest=manifest)

    @staticmethod
    def read_manifest(directory: str | Path) -> dict[str, Any]:
        """Read a model directory's manifest; refuse a missing or corrupt one, another format or scikit-learn."""
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise ModelFileError(f"{directory}: no {MANIFEST}; not a filterkit classifier (train one with "
                                 "`filterkit train-detector`)")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: not valid JSON: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise ModelFileError(f"{directory}: model format {manifest.get('format')}, this filterkit reads {FORMAT}")
        saved, ours = manifest.get("versions", {}), _versions()
        if saved.get("sklearn", "").split(".")[:2] != ours["sklearn"].split(".")[:2]:
            raise ModelFileError(f"{directory}: trained with scikit-learn {saved.get('sklearn')}, this is "
                                 f"{ours['sklearn']}; retrain it")
        return manifest


def _inside(directory: Path, name: Any) -> Path:
    """The file a manifest names, refused unless it lies in the model directory (no absolute path, no ``..``, no
    symbolic link that leads out of it)."""
    if not isinstance(name, str) or not name or Path(name).is_absolute():
        raise ModelFileError(f"{directory}: the manifest names {name!r}; a model file must be a name inside the "
                             "model directory")
    file = directory / name
    if not file.resolve().is_relative_to(directory.resolve()):
        raise ModelFileError(f"{directory}: the manifest names {name!r}, which leads out of the model directory")
    return file


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    import skops

    return {"sklearn": sklearn.__version__, "skops": skops.__version__, "filterkit": filterkit.__version__}


def routing_cut(manifest: dict[str, Any], share: float | None = None) -> float:
    """The router probability above which a row goes to the expensive detector, for ``share`` of the rows.

    Here, beside the manifest it reads, because both the router (which writes it) and the classifier detector
    (which routes by it) need it, and the router imports the detector.
    """
    share = manifest[ROUTER_KEY]["share"] if share is None else share
    percentiles = manifest["metrics_out_of_fold"]["text"]["percentiles"]
    return float(np.interp(100.0 * (1.0 - share), np.arange(len(percentiles)), percentiles))
