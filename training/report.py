"""The human-readable evaluation report of a triage model: JSON, plots, an HTML page and a Markdown summary.

    quayscan evaluate --data data/test --out runs/report-test    # writes runs/report-test/report.html

``write_report`` takes the metrics of ``training.metrics.compute_metrics`` plus the raw anomaly scores
(for the curves) and writes, into one folder::

    report.json  report.html  report.md
    roc.png  pr.png  release_vs_recall.png  recall_by_type.png  recall_by_size.png  confusion.png  score_hist.png
    misses/miss_00.png ...  false_alarms/fa_00.png ...

The HTML page is self-contained (inline CSS, relative image links, no JavaScript), so the folder can be
zipped, mailed or served as static files. The Markdown file carries the same headline table for a README.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quayscan.training import plots

log = logging.getLogger(__name__)

MAX_EXAMPLE_WIDTH = 1400
PLOTS = {  # file -> caption, in page order
    "release_vs_recall.png": "Release rate of clean scans against inspect recall",
    "recall_by_type.png": "Recall by anomaly type",
    "recall_by_size.png": "Dense concealment recall by size",
    "roc.png": "ROC of the anomaly score (visible anomalies)",
    "pr.png": "Precision-recall of the anomaly score (visible anomalies)",
    "score_hist.png": "Anomaly score by truth group",
    "confusion.png": "Commodity confusion",
}
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0 0 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; margin: 0.3em 0; }
.example figcaption { font-family: ui-monospace, monospace; }
"""


@dataclass
class Example:
    """One scan shown in the report.

    Attributes:
        title: one line saying what went wrong, e.g. ``"missed: s900-000123 dense_concealment 180 mm
            (score 0.031)"``.
        picture: BGR uint8 image with the heatmap overlay and truth boxes already drawn by the caller.
    """

    title: str
    picture: np.ndarray


def write_report(out_dir: str | Path, metrics: dict[str, Any], anomaly: np.ndarray, records: list[dict[str, Any]],
                 misses: list[Example], false_alarms: list[Example], title: str = "quayscan evaluation") -> Path:
    """Write the full report into ``out_dir`` (created if needed).

    Args:
        out_dir: report folder; files of an earlier report there are overwritten.
        metrics: the dict of ``compute_metrics`` (extra keys such as ``model_version`` are kept in the JSON).
        anomaly: (N,) anomaly scores of the evaluated scans, in the order of ``records``.
        records: the label records of the scans (``label``, ``truth.anomalies`` are used).
        misses: worst missed scans, worst first.
        false_alarms: worst falsely inspected clean scans, worst first.
        title: page heading.

    Returns:
        The path of ``report.html``.
    """
    scores = np.asarray(anomaly, dtype=np.float64).reshape(-1)
    if len(scores) != len(records):
        raise ValueError(f"got {len(scores)} anomaly scores for {len(records)} records")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(_jsonable(metrics), indent=2, allow_nan=False) + "\n")
    _write_plots(out, metrics, scores, records)
    miss_files = _write_examples(out / "misses", "miss", misses)
    fa_files = _write_examples(out / "false_alarms", "fa", false_alarms)
    rows = headline(metrics)
    page = out / "report.html"
    page.write_text(_html(title, metrics, rows, list(zip(misses, miss_files)), list(zip(false_alarms, fa_files))))
    (out / "report.md").write_text(_markdown(title, rows))
    log.info("report written to %s", page)
    return page


def _jsonable(x: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN and infinities as null."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    # an odd extra value (a Path, a version object) must not cost the whole report
    return str(x)


def _write_plots(out: Path, m: dict[str, Any], scores: np.ndarray, records: list[dict[str, Any]]) -> None:
    threshold = float(m["threshold"]) if m.get("threshold") is not None else math.nan
    visible = plots.visible_truth(records)
    labels = [r["label"] for r in records]
    plots.roc_plot(out / "roc.png", scores, visible, m.get("auc"), threshold)
    plots.pr_plot(out / "pr.png", scores, visible, threshold)
    plots.release_plot(out / "release_vs_recall.png", scores, labels, m.get("inspect_recall"), m.get("release_rate"))
    plots.type_recall_plot(out / "recall_by_type.png", m.get("recall_by_type", {}), m.get("count_by_type", {}))
    plots.size_recall_plot(out / "recall_by_size.png", m.get("recall_by_size", {}))
    plots.confusion_plot(out / "confusion.png", m.get("confusion", []), m.get("class_names", []))
    plots.score_histogram(out / "score_hist.png", scores, records, threshold)


def _write_examples(folder: Path, prefix: str, examples: Sequence[Example]) -> list[str]:
    """Write example pictures; returns their paths relative to the report folder."""
    folder.mkdir(parents=True, exist_ok=True)
    # a rerun into the same folder with fewer examples must not leave stale pictures behind
    for old in folder.glob(f"{prefix}_*.png"):
        old.unlink()
    names = []
    for i, ex in enumerate(examples):
        pic = np.asarray(ex.picture)
        if pic.dtype != np.uint8 or pic.ndim not in (2, 3) or pic.size == 0:
            raise ValueError(f"example {ex.title!r}: picture must be a non-empty uint8 image, "
                             f"got {pic.dtype} with shape {pic.shape}")
        if pic.shape[1] > MAX_EXAMPLE_WIDTH:
            height = max(1, round(pic.shape[0] * MAX_EXAMPLE_WIDTH / pic.shape[1]))
            pic = cv2.resize(pic, (MAX_EXAMPLE_WIDTH, height), interpolation=cv2.INTER_AREA)
        path = folder / f"{prefix}_{i:02d}.png"
        if not cv2.imwrite(str(path), pic):
            raise OSError(f"could not write {path}")
        names.append(f"{folder.name}/{path.name}")
    return names


def _num(x: Any, fmt: str) -> str:
    if isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(x):
        return format(int(x) if fmt == "d" else x, fmt)
    return "n/a"


def headline(m: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline figures as (name, formatted value) rows, shared by the HTML and Markdown pages."""
    rows = [
        ("scans", _num(m.get("n_scans"), "d")),
        ("AUC (visible anomaly)", _num(m.get("auc"), ".3f")),
        ("anomaly threshold", _num(m.get("threshold"), ".4g")),
        ("commodity threshold", _num(m.get("commodity_threshold"), ".4g")),
        ("inspect recall", _num(m.get("inspect_recall"), ".2%")),
        ("release rate of clean scans", _num(m.get("release_rate"), ".2%")),
        ("false alarm rate", _num(m.get("false_alarm_rate"), ".2%")),
        ("commodity top-1", _num(m.get("commodity_top1"), ".2%")),
    ]
    counts = m.get("count_by_type", {})
    for t, r in m.get("recall_by_type", {}).items():
        rows.append((f"recall: {t}", f"{_num(r, '.2%')} (n={counts.get(t, '?')})"))
    return rows


def _figure(src: str, caption: str, cls: str = "plot") -> str:
    e = html.escape
    return (f'<figure class="{cls}"><figcaption>{e(caption)}</figcaption>'
            f'<img src="{e(src)}" alt="{e(caption)}"></figure>')


def _html(title: str, m: dict[str, Any], rows: list[tuple[str, str]], misses: list[tuple[Example, str]],
          alarms: list[tuple[Example, str]]) -> str:
    e = html.escape
    meta = " &middot; ".join(f"{e(k)}: {e(str(m[k]))}" for k in ("model_version", "data") if m.get(k))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>", f'<p class="meta">{meta}</p>' if meta else "",
        "<h2>Summary</h2><table>",
        *(f'<tr><th>{e(k)}</th><td class="num">{e(v)}</td></tr>' for k, v in rows),
        "</table>",
    ]
    reasons = m.get("reasons") or {}
    if reasons:
        parts += ["<h2>Why scans were inspected</h2><table><tr><th>reason</th><th>scans</th></tr>",
                  *(f'<tr><td>{e(str(k))}</td><td class="num">{e(str(v))}</td></tr>'
                    for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])),
                  "</table>"]
    parts += ["<h2>Plots</h2>", '<div class="plots">', *(_figure(f, c) for f, c in PLOTS.items()), "</div>"]
    for heading, examples in (("Worst misses", misses), ("Worst false alarms", alarms)):
        parts.append(f"<h2>{heading}</h2>")
        parts += [_figure(src, ex.title, "example") for ex, src in examples] or ["<p>None.</p>"]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _markdown(title: str, rows: list[tuple[str, str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"# {title}", "", "| figure | value |", "|---|---:|"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in rows]
    lines.append("")
    for f, caption in PLOTS.items():
        lines += [f"![{caption}]({f})", ""]
    return "\n".join(lines)
