"""The trained AI-text classifier as a detector: ``classifier.p_machine`` from the text, stacked or cascade head."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pyarrow as pa

from detectors.classifier.language import DEFAULT_LANGUAGES, DEFAULT_MIN_CHARS, unjudged_reasons
from detectors.classifier.layout import layout_texts
from detectors.classifier.model import MANIFEST, ROUTER_KEY, ClassifierModel, ModelFileError, routing_cut
from detectors.classifier.ngram_lm import decision, lm_abstained, lm_rows, ngram_counts
from detectors.classifier.train import embed_features, predict_machine, stack_features
from detectors.device import check_device, resolve_device
from filterkit.contract import registry
from filterkit.contract.detector import TEXT, Column, Detector, RowDetector
from filterkit.stage.rules import Rule

SINGLE_HEADS = ("text", "embed", "lora", "ngram_lm")
"""Heads that score every judged row with one model of their own (no LM columns from the batch)."""
LM_SCORED_HEADS = ("stacked", "lm_abstained")
"""Values of the ``head`` column on rows the LM detector scored: the stacked head judged them, or the LM abstained."""
Head = Literal["auto", "text", "stacked", "cascade", "embed", "lora", "ngram_lm"]
DEFAULT_MODEL_DIR = Path(__file__).parent / "default"
"""The model shipped in the package, used when no ``model_dir`` is given (``python -m benchmarks.classifier ship``)."""
PACKAGED_MODELS = {"default": DEFAULT_MODEL_DIR, "lora": Path(__file__).parent / "default_lora",
                   "ngram_lm": Path(__file__).parent / "default_ngram_lm"}
"""The models in the package, by the name ``model`` takes: the TF-IDF n-gram head (thousands of documents per
second, no torch), the LoRA fine-tuned encoder (tens per second on two cores; it drifts less than the n-grams on
some domains it never saw and more on others: ``benchmarks/results/transfer_lora.md``, ``demo_models.md``) and the
n-grams with the scoring LM's statistics and hidden states (``detectors.classifier.ngram_lm``; a few per second on
two cores, the most accurate calibrated: ``benchmarks/results/transfer_protocol_lm_full.md``)."""


def packaged_model_params(model: str) -> dict[str, str]:
    """The classifier's parameters for a packaged model: none for the default, so its spec is the plain one."""
    return {} if model == "default" else {"model": model}


@dataclass
class ClassifierDetector(RowDetector):
    """Scores with a model trained by ``filterkit train-detector``, or, with no ``model_dir``, the default model
    shipped in the package (``detectors/classifier/default``, built by ``python -m benchmarks.classifier ship``).

    ``head``: ``text`` (hashed n-grams, thousands of documents per second), ``stacked`` (LM scores and style
    statistics; runs the LM detector when its columns are missing), ``cascade`` (the text head everywhere, the
    stacked head only where the text head's probability falls inside ``band``), ``embed`` (frozen sentence
    embeddings, ``detectors.classifier.embed``, for a model that has that head), ``lora`` (an encoder fine-tuned
    through a LoRA adapter, ``detectors.classifier.lora``), ``ngram_lm`` (TF-IDF n-grams beside the scoring LM's
    statistics and hidden states, ``detectors.classifier.ngram_lm``; it runs its own LM detector, with the
    parameters it was trained with), ``auto`` (the model's default head: stacked if trained).
    ``model`` names the packaged model used when ``model_dir`` is empty: ``default``, ``lora`` or ``ngram_lm``.
    Texts are layout-normalised first (``detectors.classifier.layout``), as in training.

    With ``router_dir`` (a router from ``filterkit train-router``, distilled on the crawl), the cascade sends the
    router's top ``route_share`` of rows (default: the share it was trained for) to the stacked head and leaves
    the others unjudged: their ``p_machine`` is NaN and ``head`` is ``not_routed``, so rules keep them.

    Text the model cannot judge is not scored either: text in a language outside ``languages`` (default: the
    manifest's ``languages``, ``["en"]`` when it names none; ``["*"]`` judges every language) gets NaN and
    ``unsupported_language:<code>`` (``py3langid`` names the language), text shorter than ``min_chars``
    characters gets NaN and ``too_short``. ``device`` (``auto``: CUDA when present, else the CPU; ``cpu``,
    ``cuda``, ``cuda:N``) is where the heads' torch parts run.
    """

    name = "classifier"
    scores = (Column("p_machine", doc="calibrated probability that the text is machine-written"),
              Column("head", pa.string(), reason=True,
                     doc="the head that gave p_machine; where it is NaN, why: unsupported_language:<code>, "
                         "too_short, not_routed or lm_abstained"),
              Column("p_route", when="router_dir", doc="the router's probability, with a router"))
    model_dir: str = ""
    model: str = "default"
    """The packaged model (``PACKAGED_MODELS``) used when ``model_dir`` is empty."""
    head: Head = "auto"
    band: tuple[float, float] = (0.1, 0.9)
    router_dir: str = ""
    route_share: float | None = None
    lm: dict[str, Any] = field(default_factory=dict)
    """Overrides of the LM detector parameters recorded at training (e.g. batch size); the model must stay the same."""
    languages: tuple[str, ...] | None = None
    """Languages (ISO 639-1 codes) the model may judge; None: the manifest's (``en`` when it names none)."""
    min_chars: int = DEFAULT_MIN_CHARS
    """Shorter texts (stripped) get NaN and ``too_short``."""
    device: str = "auto"
    model_: ClassifierModel | None = field(default=None, init=False, repr=False, compare=False)
    """The verified heads, loaded by ``setup`` or on first use."""
    manifest_: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    lm_: Detector | None = field(default=None, init=False, repr=False, compare=False)
    """The LM detector the stacked head runs when the batch lacks the LM columns, or the ``ngram_lm`` head's own
    (the heads are exclusive), built on first need."""
    router_: ClassifierModel | None = field(default=None, init=False, repr=False, compare=False)
    device_: str | None = field(default=None, init=False, repr=False, compare=False)
    """``device`` resolved by ``setup`` (``auto`` to ``cuda`` or ``cpu``)."""
    encoder_: Any = field(default=None, init=False, repr=False, compare=False)
    """The sentence encoder of an embedding head (``detectors.classifier.embed.Encoder``), built on first use."""
    lora_: Any = field(default=None, init=False, repr=False, compare=False)
    """The fine-tuned encoder of a LoRA head (``detectors.classifier.lora.LoraClassifier``), built on first use."""

    def __post_init__(self) -> None:
        if not isinstance(self.model_dir, (str, os.PathLike)):
            raise self._not_a_model()
        if self.model not in PACKAGED_MODELS:
            raise ValueError(f"classifier: model must be one of {list(PACKAGED_MODELS)}, got {self.model!r}")
        if self.head not in get_args(Head):
            raise ValueError(f"classifier: head must be one of {list(get_args(Head))}, got {self.head!r}")
        band = tuple(self.band)
        if len(band) != 2 or not all(isinstance(b, (int, float)) for b in band) or not 0.0 <= band[0] <= band[1] <= 1.0:
            raise ValueError(f"classifier: band must be two probabilities, low <= high, got {self.band!r}")
        if self.router_dir and self.head != "cascade":
            raise ValueError(f"classifier: router_dir needs head='cascade', got head={self.head!r}")
        if self.route_share is not None and not 0.0 < self.route_share <= 1.0:
            raise ValueError(f"classifier: route_share must be in (0, 1], got {self.route_share!r}")
        if not isinstance(self.lm, dict):
            raise TypeError(f"classifier: lm must be a mapping of LM detector parameters, got {self.lm!r}")
        if self.languages is not None and (isinstance(self.languages, str) or not self.languages
                                           or not all(isinstance(c, str) and c for c in self.languages)):
            raise ValueError(f"classifier: languages must be a non-empty list of language codes, got "
                             f"{self.languages!r}")
        if isinstance(self.min_chars, bool) or not isinstance(self.min_chars, int) or self.min_chars < 0:
            raise ValueError(f"classifier: min_chars must be an integer >= 0, got {self.min_chars!r}")
        check_device(self.device)

    def setup(self) -> None:
        """Read the manifest and load the heads, verifying their checksums, so a bad model fails before any work.

        Raises ``ModelFileError`` for a missing, corrupt, foreign or modified model directory, or a head that
        needs a stacked model the directory lacks.
        """
        self._load()
        self._router()
        self.device_ = resolve_device(self.device)
        if self.resolved_head == "embed":
            self._encoder().load()
        elif self.resolved_head == "lora":
            self._lora()
        elif self.resolved_head == "ngram_lm":
            self._ngram_lm_detector().setup()

    @property
    def model_path(self) -> Path:
        """``model_dir``, or the packaged model ``model`` names when it is empty."""
        return Path(self.model_dir) if str(self.model_dir) else PACKAGED_MODELS[self.model]

    @property
    def resolved_head(self) -> str:
        """The head that scores: ``auto`` resolved against what the model holds."""
        return self._manifest()["default_head"] if self.head == "auto" else self.head

    @property
    def judged_languages(self) -> tuple[str, ...]:
        """The languages this detector scores: ``languages``, else the manifest's, else English."""
        if self.languages is not None:
            return tuple(self.languages)
        return tuple(self._manifest().get("languages") or DEFAULT_LANGUAGES)

    @property
    def lm_columns(self) -> list[str]:
        """LM columns the stacked head reads."""
        stacked = self._manifest()["features"].get("stacked")
        return list(stacked["lm"]) if stacked else []

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        """The LM columns, when the stacked head may run, so a configured ``lm`` detector runs first."""
        if self.head == "text":
            return ()  # known from the parameters alone: no need to read the manifest
        return tuple(self.lm_columns) if self.resolved_head != "text" else ()

    def default_rules(self) -> list[Rule]:
        """Remove at the model's default threshold: its ``default_threshold`` for this head (the packaged models:
        each training domain scored as unseen, ``benchmarks.classifier.ship``), else the out-of-fold one."""
        head = self.resolved_head if self.resolved_head in SINGLE_HEADS else "stacked"
        manifest = self._manifest()
        chosen = manifest.get("default_threshold") or {}
        threshold = (chosen["value"] if chosen.get("head") == head
                     else manifest["metrics_out_of_fold"][head]["threshold"])
        threshold = 0.5 if threshold is None or np.isnan(threshold) else threshold
        return [Rule(f"{self.name}.p_machine", ">=", float(threshold), reason="machine_text")]

    def score(self, batch: pa.Table) -> pa.Table:
        """``classifier.p_machine`` per row, and ``classifier.head`` saying which head gave it."""
        model = self._load()
        # The pipeline has already applied the shared defences; the layout (line breaks, spaces, mojibake) goes too.
        texts = layout_texts(batch[TEXT].to_pylist())
        head = self.resolved_head
        p = np.full(len(texts), np.nan)
        used = np.full(len(texts), head, dtype=object)
        extra: dict[str, pa.Array] = {}
        # Text in a language the model was not trained on, or too short to judge, gets NaN and the reason why.
        unjudged = unjudged_reasons(texts, self.judged_languages, self.min_chars)
        judged = np.array([r is None for r in unjudged], dtype=bool)
        if self.router_dir:
            router = self._router()
            p_route = predict_machine(router.heads["text"], router.heads["text_calibration"], texts)
            rows = np.flatnonzero((p_route >= routing_cut(router.manifest, self.route_share)) & judged)
            used[:] = "not_routed"
            extra[f"{self.name}.p_route"] = pa.array(p_route, pa.float64())
        elif head == "stacked":
            rows = np.flatnonzero(judged)
        elif head in ("embed", "lora"):
            rows = np.flatnonzero(judged)
            if rows.size:
                judged_texts = [texts[i] for i in rows]
                p[rows] = (self._embed_scores(model, judged_texts) if head == "embed" else
                           predict_machine(self._lora(), model.heads["lora_calibration"], judged_texts))
        elif head == "ngram_lm":
            rows = np.flatnonzero(judged)
            if rows.size:
                judged_texts = [texts[i] for i in rows]
                dense = lm_rows(self._ngram_lm_detector().score(pa.table({TEXT: judged_texts})))
                raw = decision(model.heads, ngram_counts(judged_texts), dense)
                p[rows] = model.heads["ngram_lm_calibration"].predict_proba(raw.reshape(-1, 1))[:, 1]
                # As the stacked head: where the LM cannot judge a text, neither does this head.
                silent = rows[lm_abstained(dense)]
                p[silent], used[silent] = np.nan, "lm_abstained"
        else:
            scored = np.flatnonzero(judged)  # the text head scores each row alone: the unjudged ones need no work
            if scored.size:
                p[scored] = predict_machine(model.heads["text"], model.heads["text_calibration"],
                                            [texts[i] for i in scored])
            used[:] = "text"
            rows = np.flatnonzero((p > self.band[0]) & (p < self.band[1]))  # NaN is in no band
        if head not in SINGLE_HEADS and rows.size:
            lm_table = self._lm_scores(batch, rows)
            features = stack_features(lm_table, self.lm_columns, [texts[i] for i in rows])
            p[rows] = predict_machine(model.heads["stacked"], model.heads["stacked_calibration"], features)
            used[rows] = "stacked"
            # Where the LM abstained on every column (a language it cannot judge, too short a text), so does the
            # stacked head: an imputed median is not evidence, and a rule must not fire on it.
            abstained = rows[np.isnan(features[:, : len(self.lm_columns)]).all(axis=1)]
            p[abstained] = np.nan
            used[abstained] = "lm_abstained"
        for i in np.flatnonzero(~judged):
            used[i] = unjudged[i]
        return pa.table({f"{self.name}.p_machine": pa.array(p, pa.float64()),
                         f"{self.name}.head": pa.array(used.tolist(), pa.string()), **extra})

    def _encoder(self) -> Any:
        if self.encoder_ is None:
            from detectors.classifier.embed import Encoder

            spec = self._manifest()["features"]["embed"]
            self.encoder_ = Encoder(spec=spec["encoder"], max_tokens=spec["max_tokens"],
                                    quantize=spec.get("quantize") == "int8",
                                    device=self.device_ or resolve_device(self.device))  # setup may not have run
        return self.encoder_

    def _embed_scores(self, model: ClassifierModel, texts: list[str]) -> np.ndarray:
        if self.device_ is None:
            self.device_ = resolve_device(self.device)
        embeddings = self._encoder().encode(texts)
        features = embed_features(embeddings, texts, style=self._manifest()["features"]["embed"].get("style", False))
        return predict_machine(model.heads["embed"], model.heads["embed_calibration"], features)

    def _lora(self) -> Any:
        if self.lora_ is None:
            from detectors.classifier.lora import LoraClassifier, LoraSettings

            self.lora_ = LoraClassifier.from_weights(LoraSettings.from_dict(self._manifest()["features"]["lora"]),
                                                     self._load().heads["lora"],
                                                     device=self.device_ or resolve_device(self.device))
        return self.lora_

    def _ngram_lm_detector(self) -> Detector:
        """The ``ngram_lm`` head's own LM detector, with the parameters it was trained with, on this device."""
        if self.lm_ is None:
            params = {**self._manifest()["features"]["ngram_lm"]["lm_params"],
                      "device": self.device_ or resolve_device(self.device), **self.lm}
            self.lm_ = registry.build("lm", params)
        return self.lm_

    def _lm_scores(self, batch: pa.Table, rows: np.ndarray) -> pa.Table:
        if all(c in batch.column_names for c in self.lm_columns):
            return batch.take(pa.array(rows))
        if self.lm_ is None:
            params = {**self._manifest()["train_config"].get("lm_params", {}), **self.lm}
            self.lm_ = registry.build("lm", params)
        return self.lm_.score(pa.table({TEXT: batch[TEXT].take(pa.array(rows))}))

    def _not_a_model(self) -> ModelFileError:
        return ModelFileError(f"classifier: {str(self.model_path)!r} is not a trained model directory (no {MANIFEST}); "
                              "train one with `filterkit train-detector` and pass --param classifier.model_dir=DIR")

    def _manifest(self) -> dict[str, Any]:
        """The model's manifest, read and checked once per instance (columns and rules need it before the heads)."""
        if self.manifest_ is None:
            if not (self.model_path / MANIFEST).is_file():
                raise self._not_a_model()
            manifest = ClassifierModel.read_manifest(self.model_path)
            if self.head in ("stacked", "cascade") and "stacked" not in manifest["files"]:
                raise ModelFileError(f"classifier: {self.model_path} has no stacked head; retrain with --stack lm")
            if self.head in ("embed", "lora", "ngram_lm") and self.head not in manifest["files"]:
                raise ModelFileError(f"classifier: {self.model_path} has no {self.head} head (it has "
                                     f"{sorted(h for h in manifest['files'] if not h.endswith('_calibration'))})")
            self.manifest_ = manifest
        return self.manifest_

    def _router(self) -> ClassifierModel | None:
        if self.router_dir and self.router_ is None:
            manifest = ClassifierModel.read_manifest(self.router_dir)
            if ROUTER_KEY not in manifest:
                raise ModelFileError(f"classifier: {self.router_dir} is not a router (train one with "
                                     "`filterkit train-router`)")
            self.router_ = ClassifierModel.load(self.router_dir, manifest=manifest)
        return self.router_

    def _load(self) -> ClassifierModel:
        if self.model_ is None:
            self.model_ = ClassifierModel.load(self.model_path, manifest=self._manifest())
        return self.model_
