"""A model directory's manifest names its files: each must lie inside the directory and be a skops file (#30)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from detectors.classifier.model import MANIFEST, ClassifierModel, ModelFileError


def _saved(tmp_path: Path) -> Path:
    head = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    return ClassifierModel(heads={"text": head}).save(tmp_path / "model")


def _name(directory: Path, name: str, data: bytes | None = None) -> None:
    """Point the manifest's text head at ``name`` (its SHA-256 made to match, as a forger would)."""
    manifest = json.loads((directory / MANIFEST).read_text())
    target = directory / name
    digest = hashlib.sha256(data if data is not None else target.read_bytes()).hexdigest()
    manifest["files"]["text"] = {"file": name, "sha256": digest}
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_a_saved_model_loads(tmp_path):
    assert set(ClassifierModel.load(_saved(tmp_path)).heads) == {"text"}


def test_a_file_outside_the_model_directory_is_refused(tmp_path):
    model = _saved(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "text.skops").write_bytes((model / "text.skops").read_bytes())
    _name(model, "../elsewhere/text.skops")
    with pytest.raises(ModelFileError, match="leads out of the model directory"):
        ClassifierModel.load(model)


def _copy_outside(tmp_path, model):
    """A copy of the model's text head outside its directory."""
    copy = tmp_path / "copy.skops"
    copy.write_bytes((model / "text.skops").read_bytes())
    return copy


def test_an_absolute_path_is_refused(tmp_path):
    model = _saved(tmp_path)
    copy = _copy_outside(tmp_path, model)
    _name(model, str(copy), copy.read_bytes())
    with pytest.raises(ModelFileError, match="must be a name inside the model directory"):
        ClassifierModel.load(model)


def test_a_symbolic_link_out_of_the_directory_is_refused(tmp_path):
    model = _saved(tmp_path)
    (model / "link.skops").symlink_to(_copy_outside(tmp_path, model))
    _name(model, "link.skops")
    with pytest.raises(ModelFileError, match="leads out of the model directory"):
        ClassifierModel.load(model)


def test_a_symbolic_link_inside_the_directory_loads(tmp_path):
    model = _saved(tmp_path)
    (model / "link.skops").symlink_to(model / "text.skops")
    _name(model, "link.skops")
    assert set(ClassifierModel.load(model).heads) == {"text"}


def test_a_file_that_is_not_a_skops_zip_is_a_model_file_error(tmp_path):
    model = _saved(tmp_path)
    (model / "text.skops").write_bytes(b"not a zip file at all")
    _name(model, "text.skops")
    with pytest.raises(ModelFileError, match="text.skops: not a skops file"):
        ClassifierModel.load(model)
