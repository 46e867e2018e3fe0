"""The trained AI-text classifier as a detector: ``classifier.p_machine`` from the text, stacked or cascade head."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from filterkit.detector import TEXT, Detector, RowDetector
from detectors.classifier_model import MANIFEST, ClassifierModel, ModelFileError
from filterkit.rules import Rule
from filterkit.storage import read_json
from detectors.train import predict_machine, stack_features

Head = Literal["auto", "text", "stacked", "cascade"]


@dataclass
class ClassifierDetector(RowDetector):
    """Scores with a model trained by ``filterkit train-detector``.

    ``head``: ``text`` (hashed n-grams, thousands of documents per second), ``stacked`` (LM scores and style
    statistics; runs the LM detector when its columns are missing), ``cascade`` (the text head everywhere, the
    stacked head only where the text head's probability falls inside ``band``), ``auto`` (stacked if trained).
    """

    name = "classifier"
    scores = ("p_machine",)
    model_dir: str = ""
    head: Head = "auto"
    band: tuple[float, float] = (0.1, 0.9)
    lm: dict[str, Any] = field(default_factory=dict)
    """Overrides of the LM detector parameters recorded at training (e.g. batch size); the model must stay the same."""
    _model: ClassifierModel | None = field(default=None, init=False, repr=False, compare=False)
    _lm: Detector | None = field(default=None, init=False, repr=False, compare=False)
    _manifest: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, so a bad path fails before any data is read.
        if not self.model_dir or not (Path(self.model_dir) / MANIFEST).is_file():
            raise ModelFileError(f"classifier: {self.model_dir!r} is not a trained model directory (no {MANIFEST}); "
                                 "train one with `filterkit train-detector` and pass --param classifier.model_dir=DIR")
        self._manifest = read_json(Path(self.model_dir) / MANIFEST)
        if self.head in ("stacked", "cascade") and "stacked" not in self._manifest["files"]:
            raise ModelFileError(f"classifier: {self.model_dir} has no stacked head; retrain with --stack lm")

    @property
    def resolved_head(self) -> str:
        """The head that scores: ``auto`` resolved against what the model holds."""
        return self._manifest["default_head"] if self.head == "auto" else self.head

    @property
    def lm_columns(self) -> list[str]:
        """LM columns the stacked head reads."""
        stacked = self._manifest["features"].get("stacked")
        return list(stacked["lm"]) if stacked else []

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        """The LM columns, when the stacked head may run, so a configured ``lm`` detector runs first."""
        return tuple(self.lm_columns) if self.resolved_head != "text" else ()

    def default_rules(self) -> list[Rule]:
        """Remove at the threshold that kept out-of-fold human false positives at the training target FPR."""
        head = "stacked" if self.resolved_head != "text" else "text"
        threshold = self._manifest["metrics_out_of_fold"][head]["threshold"]
        threshold = 0.5 if threshold is None or np.isnan(threshold) else threshold
        return [Rule(f"{self.name}.p_machine", ">=", float(threshold), reason="machine_text")]

    def score(self, batch: pa.Table) -> pa.Table:
        """``classifier.p_machine`` per row, and ``classifier.head`` saying which head gave it."""
        model = self._load()
        texts = batch[TEXT].to_pylist()  # the pipeline has already applied the shared defences
        head = self.resolved_head
        p = np.full(len(texts), np.nan)
        used = np.full(len(texts), head, dtype=object)
        if head in ("text", "cascade"):
            p = predict_machine(model.heads["text"], model.heads["text_calibration"], texts)
            used[:] = "text"
        rows = np.arange(len(texts)) if head == "stacked" else np.flatnonzero((p > self.band[0]) & (p < self.band[1]))
        if head != "text" and rows.size:
            lm_table = self._lm_scores(batch, rows)
            features = stack_features(lm_table, self.lm_columns, [texts[i] for i in rows])
            p[rows] = predict_machine(model.heads["stacked"], model.heads["stacked_calibration"], features)
            used[rows] = "stacked"
        return pa.table({f"{self.name}.p_machine": pa.array(p, pa.float64()),
                         f"{self.name}.head": pa.array(used.tolist(), pa.string())})

    def _lm_scores(self, batch: pa.Table, rows: np.ndarray) -> pa.Table:
        if all(c in batch.column_names for c in self.lm_columns):
            return batch.take(pa.array(rows))
        if self._lm is None:
            from filterkit import registry

            params = {**self._manifest["train_config"].get("lm_params", {}), **self.lm}
            self._lm = registry.build("lm", params)
        return self._lm.score(pa.table({TEXT: batch[TEXT].take(pa.array(rows))}))

    def _load(self) -> ClassifierModel:
        if self._model is None:
            self._model = ClassifierModel.load(self.model_dir)
        return self._model
