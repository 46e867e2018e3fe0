"""The demo's crawl (human, machine, copied and broken documents), the run that filters it with the shipped
classifier, and what that classifier catches out of the box and calibrated on trusted human text."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract import registry
from filterkit.engine.calibrate import calibrate, realised_fpr
from filterkit.engine.pipeline import Progress, filter_stage, run
from filterkit.stage.rules import FILTER_REASON, Rule
from filterkit.testing.shared import shared_data_dir

ORIGIN = "demo_origin"
MACHINE = "demo_is_machine"
DOC = "demo_doc"
SOURCE = "demo_source"
"""Hidden labels of each demo row; they pass through the pipeline untouched and no detector reads them."""
DEMO_DETECTORS = ("exact", "minhash", "classifier")
"""Detectors that run with default parameters and need nothing trained or downloaded (the classifier's default
model ships in the package)."""
SCORE = "classifier.p_machine"
MACHINE_TEXT = "machine_text"
MAX_FPR = 0.01
"""The share of human text the classifier's threshold may remove (on average, on new human text)."""
GROUND_TRUTH = "ground_truth.json"
HELD_OUT = "held_out_article"
WIKITEXT = "wikitext2"
CRAWL_SPLIT = "test"
"""The wikitext2 split whose articles the crawl's documents come from; the trusted ones come from the other."""
TRUSTED = "trusted_human.parquet"


@dataclass(frozen=True)
class DemoSizes:
    """How many documents of each kind the demo crawl holds.

    Human documents come from text the default never saw in any form: the 15 held-out open_models/ImBD articles
    that overlap no news_wiki_stories text, and 586 documents cut from the 120 Wikipedia articles of wikitext2 (293
    from its ``test`` articles, 293 from its ``valid`` ones). ``human`` of the 308 held-out and ``test`` documents
    go into the crawl (the mix is the ground truth's ``human_documents_by_source``); the trusted human texts the
    classifier is calibrated on are the ``valid`` documents (other articles than the crawl's) and the held-out
    texts the crawl does not take. ``machine`` keeps the crawl one quarter machine-written. The pools do not allow
    900 human documents: the leak into news_wiki_stories leaves 15 of the 484 held-out articles.
    """

    human: int = 300
    machine: int = 100
    exact_copies: int = 80
    near_copies: int = 80
    bad_rows: int = 6
    files: int = 4


def held_out_texts(data: Path | None = None) -> tuple[list[str], list[str], list[str]]:
    """Texts of the articles the shipped classifier never saw: ``(humans, base-model texts, chat-model texts)``.

    The default model (``python -m benchmarks.classifier ship``, rows of
    ``benchmarks.transfer.protocol_data.load_rows``) trained on the articles of detect/open_models and detect/imbd
    whose ``_hash(article_key(normalised human text)) % 1000 < 500``, on detect/chat_models and detect/essays whole
    and on every text of human/news_wiki_stories. These are the other half of the open_models and ImBD articles,
    less any article whose human text also opens a chat_models article, English only, and never a text the
    training rows hold verbatim.
    Humans that overlap a news_wiki_stories text in any form (the same opening words,
    or any ``WINDOW``-word run of one found in the other: most held-out articles have a different-length cut there,
    which the default trained on as human) are dropped too; 15 remain.
    Humans: one text per article (an article's other human rows are truncations of
    the same text, near copies of it). Machine: the ``generation`` job only -- the base models of open_models
    (GPT-2 XL, OPT, GPT-Neo, GPT-J, GPT-NeoX) and the chat models of ImBD (GPT-3.5, GPT-4o, Llama-3, Mistral,
    Qwen2, DeepSeek); ImBD's expand, polish and rewrite jobs are left out.
    """
    from benchmarks.transfer.protocol_data import SAMPLED, _hash, article_key
    from detectors.classifier.layout import training_texts

    data = Path(data or shared_data_dir())
    chat = pq.read_table(data / "detect" / "chat_models.parquet", columns=["text", "label"]).to_pydict()
    chat_articles = {article_key(t) for t, label in zip(training_texts(chat["text"]), chat["label"], strict=True)
                     if label == "human"}
    trained_texts = set(training_texts(pq.read_table(data / "human" / "news_wiki_stories.parquet")["text"]
                                       .to_pylist())) | set(training_texts(chat["text"]))
    humans: dict[str, list[str]] = {}
    machines: dict[str, list[str]] = {name: [] for name in SAMPLED}
    for name in SAMPLED:
        t = pq.read_table(data / "detect" / f"{name}.parquet").to_pydict()
        n = len(t["text"])
        norm = training_texts(t["text"])
        keys = {t["pair_id"][i]: article_key(norm[i]) for i in range(n) if t["label"][i] == "human"}
        for i in range(n):
            key = keys[t["pair_id"][i]]
            if (_hash(key) % 1000 < 500 or key in chat_articles or norm[i] in trained_texts
                    or t.get("language", ["en"] * n)[i] != "en"):
                continue
            if t["label"][i] == "human":
                humans.setdefault(key, [])
                if t["text"][i] not in humans[key]:
                    humans[key].append(t["text"][i])
            elif t.get("task", ["generation"] * n)[i] == "generation":
                machines[name].append(t["text"][i])
    seen = _TrainedHumans(data)
    return ([v[0] for _, v in sorted(humans.items()) if not seen.overlaps(v[0])],
            sorted(set(machines["open_models"])),
            sorted(set(machines["imbd"])))


WINDOW = 12
"""Word-run length by which a demo human text counts as overlapping a text the default trained on as human."""
_WORDS = re.compile(r"[^\W_]+")


class _TrainedHumans:
    """The human/news_wiki_stories texts the default trained on (every one of them), as opening keys and word runs."""

    def __init__(self, data: Path) -> None:
        from benchmarks.transfer.protocol_data import article_key
        from detectors.classifier.layout import training_texts

        texts = training_texts(pq.read_table(data / "human" / "news_wiki_stories.parquet")["text"].to_pylist())
        self.keys = {article_key(t) for t in texts}
        self.runs = {run for t in texts for run in _runs(t)}

    def overlaps(self, text: str) -> bool:
        from benchmarks.transfer.protocol_data import article_key
        from detectors.classifier.layout import training_texts

        norm = training_texts([text])[0]
        return article_key(norm) in self.keys or any(r in self.runs for r in _runs(norm))


def _runs(text: str) -> list[str]:
    words = _WORDS.findall(text.lower())
    return [" ".join(words[i:i + WINDOW]) for i in range(max(1, len(words) - WINDOW + 1))]


_DETOKENISE = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" .", "."), (" n't", "n't"), (" 's", "'s"),
               (" ( ", " ("), (" )", ")"), (" ,", ","), (" ;", ";"), (" :", ":"), (" !", "!"), (" ?", "?"))
WIKI_WORDS = (120, 200)
"""Word range of a wikitext document."""


def wikitext_documents(data: Path | None = None) -> list[tuple[str, int, str]]:
    """Documents cut from human/wikitext2 (Wikipedia articles no training row of the default comes from):
    ``(text, article row, split)``.

    The tokenised release is undone (``@-@``, ``@,@`` and ``@.@`` markers, spaces before punctuation), heading lines
    are dropped, and so is every sentence holding ``<unk>`` (the release's out-of-vocabulary token): three paragraphs
    in four hold one, so dropping whole paragraphs leaves ~10k words, while dropping sentences keeps ~114k. An
    article's paragraphs are then packed into documents of 120-200 words, cut only between sentences; documents
    overlapping a news_wiki_stories text (its Wikipedia part is SQuAD) are dropped.
    """
    data = Path(data or shared_data_dir())
    seen = _TrainedHumans(data)
    table = pq.read_table(data / "human" / "wikitext2.parquet", columns=["text", "split"]).to_pydict()
    docs: list[tuple[str, int, str]] = []
    chunks: list[str] = []
    for row, (article, split) in enumerate(zip(table["text"], table["split"], strict=True)):
        paragraphs = []
        for line in article.split("\n"):
            if not line.strip() or line.strip().startswith("="):
                continue
            sentences = [s for s in re.split(r"(?<= [.!?]) (?=[A-Z\"(])", line.strip()) if "<unk>" not in s]
            if sentences:
                paragraphs.append([_detokenise(s) for s in sentences])
        chunks.clear()
        current: list[list[str]] = []
        words = 0

        def flush() -> None:
            nonlocal current, words
            chunks.append("\n\n".join(" ".join(p) for p in current if p))
            current, words = [], 0

        for sentences in paragraphs:
            current.append([])
            for sentence in sentences:
                n = len(sentence.split())
                if words and words + n > WIKI_WORDS[1]:
                    flush()
                    current.append([])
                current[-1].append(sentence)
                words += n
            if words >= WIKI_WORDS[0]:
                flush()
        flush()
        docs += [(text, row, split) for text in chunks
                 if WIKI_WORDS[0] <= len(text.split()) and not seen.overlaps(text)]
    return docs


def _detokenise(text: str) -> str:
    for a, b in _DETOKENISE:
        text = text.replace(a, b)
    return re.sub(r'" ([^"]*?) "', r'"\1"', text).strip()


def build_crawl(out_dir: Path, sizes: DemoSizes = DemoSizes(), seed: int = 0) -> Path:
    """Write a crawl of held-out human, machine, copied and broken documents as several Parquet files.

    Machine documents: half from the chat models of ImBD, half from the base models of open_models. The held-out
    human texts the crawl does not take are written beside it (``trusted_human.parquet``): the trusted set a
    practitioner calibrates thresholds on.
    """
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    held_out, base, chat = held_out_texts()
    wiki = wikitext_documents()
    pool = [(t, HELD_OUT) for t in held_out] + [(t, WIKITEXT) for t, _, split in wiki if split == CRAWL_SPLIT]
    if sizes.human > len(pool):
        raise ValueError(f"the human pools give {len(pool)} crawl texts; the crawl asks for {sizes.human}")
    order = rng.permutation(len(pool))
    humans = [pool[i] for i in order[: sizes.human]]
    trusted = ([t for t, _, split in wiki if split != CRAWL_SPLIT]
               + [pool[i][0] for i in order[sizes.human:] if pool[i][1] == HELD_OUT])
    pq.write_table(pa.table({"text": trusted}), out_dir.parent / TRUSTED)
    n_chat = min(sizes.machine // 2, len(chat))
    machines = ([chat[i] for i in rng.choice(len(chat), n_chat, replace=False)]
                + [base[i] for i in rng.choice(len(base), sizes.machine - n_chat, replace=False)])
    # (text, origin, is machine, the original document it is or copies, where its text comes from)
    rows: list[tuple[str | None, str, bool, int, str]] = [(t, "human", False, i, src)
                                                          for i, (t, src) in enumerate(humans)]
    rows += [(t, "machine", True, len(rows) + i, "machine") for i, t in enumerate(machines)]
    originals = rows[:]
    picked = rng.choice(len(originals), sizes.exact_copies + sizes.near_copies, replace=False)
    for k, i in enumerate(picked):
        text, _, is_machine, doc, src = originals[i]
        if k < sizes.exact_copies:
            rows.append((_reformat(text), "exact_copy", is_machine, doc, src))
        else:
            rows.append((_near_copy(text, rng), "near_copy", is_machine, doc, src))
    half = sizes.bad_rows // 2
    rows += ([(None, "broken", False, -1, "broken")] * half
             + [("   ", "broken", False, -1, "broken")] * (sizes.bad_rows - half))
    order = rng.permutation(len(rows))
    for f, part in enumerate(np.array_split(order, sizes.files)):
        table = pa.table({
            "url": [f"https://crawl.example/{f}/{int(i)}" for i in part],
            "text": pa.array([rows[i][0] for i in part], pa.string()),
            ORIGIN: [rows[i][1] for i in part],
            MACHINE: [rows[i][2] for i in part],
            DOC: [rows[i][3] for i in part],
            SOURCE: [rows[i][4] for i in part],
        })
        pq.write_table(table, out_dir / f"crawl-{f:02d}.parquet", row_group_size=100)
    return out_dir


def _reformat(text: str) -> str:
    # What a re-crawl of the same page looks like: other case and whitespace, same words.
    return re.sub(r"\s+", "  ", text.upper()) + "\n"


def _near_copy(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 40)):
        words[int(rng.integers(len(words)))] = rng.choice(["the", "a", "this", "that"])
    return " ".join(words) + " Share this article. Copyright 2024 Example Media."


def run_demo(out: Path, sizes: DemoSizes = DemoSizes(), progress: Progress | None = None,
             model: str = "default") -> dict[str, Any]:
    """Build the crawl, filter it with every demo detector that is installed, and measure what was caught.

    ``model``: the classifier's packaged model (``default``: TF-IDF n-grams; ``lora``: the fine-tuned encoder;
    ``ngram_lm``: the n-grams with the scoring LM's statistics and hidden states).
    The classifier's rule is calibrated on the trusted human texts; its out-of-the-box verdicts (the shipped
    manifest's threshold) are read off the same run's scores, which removed rows carry too.
    """
    start = time.perf_counter()
    crawl = build_crawl(out / "crawl", sizes)
    names = [n for n in DEMO_DETECTORS if n in registry.available()]
    from detectors.classifier.detector import packaged_model_params

    specs = {n: DetectorSpec(n, packaged_model_params(model) if n == "classifier" else {}) for n in names}
    config = FilterConfig(detectors=tuple(specs.values()), rows_per_shard=200)
    rules = filter_stage(config).rules
    shipped = next((r for r in rules if r.column == SCORE), None)
    calibration = None
    if shipped:
        # The training data's 1%-FPR threshold need not transfer to this crawl's human text; trusted human text does.
        classifier_only = config.replace(detectors=(specs["classifier"],), rules=(shipped,))
        calibrated, calibration = calibrate([str(out / TRUSTED)], classifier_only, SCORE, MAX_FPR)
        config = config.replace(rules=tuple(r for r in rules if r.column != SCORE) + calibrated.rules)
    result = run([str(crawl)], out / "filtered", config, overwrite=True, progress=progress)
    kept = _labels(out / "filtered" / "kept", bool(shipped)).to_pylist()
    removed = _labels(out / "filtered" / "removed", bool(shipped)).to_pylist()
    everything = removed + kept
    human_docs = {r[DOC] for r in everything if not r[MACHINE]}
    machine_docs = {r[DOC] for r in everything if r[MACHINE]}
    crawl_humans = [r for r in everything if r[ORIGIN] == "human"]

    def kept_rows(rule: Rule | None) -> list[dict[str, Any]]:
        # The rows a run whose classifier rule were ``rule`` keeps: the others' verdicts stand, and the scores decide.
        if rule is None:
            return kept
        survivors = [r for r in everything
                     if not set((r[FILTER_REASON] or "").split(";")) - {"", MACHINE_TEXT}]
        return [r for r, fires in zip(survivors, _fires(rule, survivors), strict=True) if not fires]

    def regime(rule: Rule | None, trusted: int | None) -> dict[str, Any]:
        survivors = kept_rows(rule)
        kept_docs = {r[DOC] for r in survivors}
        machine_kept = sum(r[MACHINE] for r in survivors)
        measures: dict[str, Any] = {
            "machine_documents": len(machine_docs), "machine_documents_removed": len(machine_docs - kept_docs),
            "human_documents": len(human_docs), "human_documents_lost": len(human_docs - kept_docs),
            "machine_share_after": round(machine_kept / max(1, len(survivors)), 4),
        }
        if rule is not None:
            # The classifier's realised false-positive rate: crawl documents written by people (not copies) its
            # rule would remove, against its target.
            fp = int(_fires(rule, crawl_humans).sum())
            measures.update({"threshold": rule.threshold, "target_fpr": MAX_FPR, "crawl_human_texts": len(crawl_humans),
                             "crawl_human_texts_removed": fp, "realised_fpr": fp / max(1, len(crawl_humans))})
            if trusted is not None:
                measures.update({"trusted_human_texts": trusted, **realised_fpr(
                    trusted - calibration["human_nan"], MAX_FPR)})
        return measures

    regimes = {"calibrated": regime(calibration and next(r for r in config.rules if r.column == SCORE),
                                    calibration and calibration["human_rows"])}
    if shipped:
        regimes = {"out_of_box": regime(shipped, None), **regimes}

    def caught(kind: str) -> str:
        # A planted copy is caught when exactly one of the pair survives, whichever one it is.
        copied = {r[DOC] for r in everything if r[ORIGIN] == kind}
        survivors = [r[DOC] for r in kept if r[DOC] in copied]
        return f"{sum(survivors.count(d) == 1 for d in copied)}/{len(copied)}"

    truth = {
        **{k: regimes["calibrated"][k] for k in ("machine_documents", "machine_documents_removed",
                                                 "human_documents", "human_documents_lost")},
        "human_documents_by_source": {s: len({r[DOC] for r in crawl_humans if r[SOURCE] == s})
                                      for s in sorted({r[SOURCE] for r in crawl_humans})},
        "rows_by_origin": {o: {"kept": sum(r[ORIGIN] == o for r in kept),
                               "removed": sum(r[ORIGIN] == o for r in removed)}
                           for o in sorted({r[ORIGIN] for r in everything})},
    }
    if shipped:
        truth["classifier"] = regimes
    (out / GROUND_TRUTH).write_text(json.dumps(truth, indent=2) + "\n")

    def side_by_side(show) -> dict[str, str] | str:
        values = {k.replace("_", " "): show(v) for k, v in regimes.items()}
        return values if shipped else values["calibrated"]

    def fpr_line(m: dict[str, Any]) -> str:
        line = (f"{m['crawl_human_texts_removed']}/{m['crawl_human_texts']} = {m['realised_fpr']:.2%} "
                f"(target {MAX_FPR:.0%}")
        if "trusted_human_texts" in m:
            line += (f"; with {m['trusted_human_texts']} trusted texts 5-95% of draws realise "
                     f"{m['fpr_5']:.2%}-{m['fpr_95']:.2%}")
        return line + ")"

    valid = len(everything)
    summary: dict[str, Any] = {
        "detectors": names,
        "classifier_model": model,
        "documents_in": result.report["counts"]["rows_in"],
        "quarantined": result.report["counts"]["quarantined"],
        "removed_by_reason": result.report["filter_reasons"],
        "machine_share_before": round(sum(r[MACHINE] for r in everything) / max(1, valid), 4),
        "machine_share_after": side_by_side(lambda m: f"{m['machine_share_after']:.4f}"),
        "machine_documents_removed": side_by_side(
            lambda m: f"{m['machine_documents_removed']}/{m['machine_documents']}"),
        "human_documents_lost": side_by_side(lambda m: f"{m['human_documents_lost']}/{m['human_documents']}"),
        "human_documents_by_source": ", ".join(f"{s} {n}" for s, n in truth["human_documents_by_source"].items()),
        "exact_copies_removed": caught("exact_copy"),
        "near_copies_removed": caught("near_copy"),
    }
    if shipped:
        from detectors.classifier.detector import PACKAGED_MODELS
        from detectors.classifier.model import ClassifierModel

        chosen = ClassifierModel.read_manifest(PACKAGED_MODELS[model]).get("default_threshold") or {}
        how = ("the strictest training domain's 1% FPR, each scored as unseen" if chosen.get("rule") == "lodo_worst"
               else f"{MAX_FPR:.0%} FPR on its training humans")
        summary["classifier_threshold"] = {
            "out of box": f"{shipped.threshold:.3f} (the packaged model's: {how})",
            "calibrated": f"{regimes['calibrated']['threshold']:.3f} ({MAX_FPR:.0%} FPR on "
                          f"{calibration['human_rows']} trusted human texts)"}
        summary["classifier_realised_fpr"] = side_by_side(fpr_line)
    return {
        **summary,
        "ground_truth": str(out / GROUND_TRUTH),
        "seconds": round(time.perf_counter() - start, 1),
        "report": str(result.out / "report" / "report.md"),
        "conservation": result.report["conservation"]["statement"],
    }


def _fires(rule: Rule, rows: list[dict[str, Any]]) -> np.ndarray:
    return rule.fires_values(np.array([np.nan if r[SCORE] is None else r[SCORE] for r in rows], dtype=np.float64))


def _labels(part: Path, scored: bool) -> pa.Table:
    files = sorted(str(p) for p in part.glob("*.parquet"))
    types = {ORIGIN: pa.string(), MACHINE: pa.bool_(), DOC: pa.int64(), SOURCE: pa.string(),
             FILTER_REASON: pa.string(), SCORE: pa.float64()}
    columns = [ORIGIN, MACHINE, DOC, SOURCE, FILTER_REASON] + ([SCORE] if scored else [])
    if not files:
        return pa.table({c: pa.array([], types[c]) for c in columns})
    table = ds.dataset(files).to_table(columns=[c for c in columns if c != FILTER_REASON or "removed" in part.name])
    if FILTER_REASON not in table.column_names:
        table = table.append_column(FILTER_REASON, pa.array([None] * table.num_rows, pa.string()))
    return table
