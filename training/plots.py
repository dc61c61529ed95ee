"""The evaluation report's plots: one function per PNG, each tolerant of degenerate inputs.

Figures are drawn with matplotlib's object API on the Agg canvas rather than through pyplot: nothing
global is switched (importing this module does not change the backend of a notebook that imports it),
no display is needed, and no figure outlives its function. A plot whose data is missing (no anomalies,
no clean scans) is still written, with a short note in place of the curve, so the report always has
the same files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
RECALL_BAR = 0.95  # per-type recall every anomaly type must reach
SIZE_BAR = 0.90  # recall bar for dense concealment per size bin
CLEAN = "clean"


def _figure(width: float = 6.0, height: float = 4.5) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def _empty(ax: Any, note: str) -> None:
    ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and bool(np.isfinite(x))


def visible_truth(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """True where a scan holds an anomaly the image can show (anything but a whole-load manifest mismatch)."""
    return np.array([any(a["type"] != "manifest_mismatch" for a in r["truth"]["anomalies"]) for r in records], bool)


def _counts_at(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when inspecting at each distinct score, highest first (score >= t, as the policy)."""
    thresholds = np.unique(scores)[::-1]
    pos = np.sort(scores[positive])
    neg = np.sort(scores[~positive])
    tp = len(pos) - np.searchsorted(pos, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg, thresholds, side="left")
    return thresholds, tp, fp


def roc_plot(path: Path, scores: np.ndarray, positive: np.ndarray, auc: Any, threshold: float) -> Path:
    """ROC of the anomaly score against visible-anomaly truth, with the operating point marked."""
    fig, ax = _figure(5.0, 4.8)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        _empty(ax, f"ROC not defined: {n_pos} scans with visible anomalies, {n_neg} without")
    else:
        _, tp, fp = _counts_at(scores, positive)
        tpr, fpr = np.r_[0, tp / n_pos], np.r_[0, fp / n_neg]
        auc_text = f"{auc:.3f}" if _finite(auc) else "n/a"
        ax.plot(fpr, tpr, color="C0", label=f"anomaly score (AUC {auc_text})")
        ax.plot([0, 1], [0, 1], color="0.7", ls=":", lw=1, label="chance")
        if _finite(threshold):
            op_tpr = float((scores[positive] >= threshold).mean())
            op_fpr = float((scores[~positive] >= threshold).mean())
            ax.plot(op_fpr, op_tpr, "o", color="C3", label=f"threshold {threshold:.3g}")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (scans without visible anomaly)",
               ylabel="true positive rate")
        ax.legend(loc="lower right", fontsize=9)
        ax.grid(alpha=0.3)
    ax.set_title(f"ROC: visible anomaly ({n_pos} pos / {n_neg} neg)", fontsize=11)
    return _save(fig, path)


def pr_plot(path: Path, scores: np.ndarray, positive: np.ndarray, threshold: float) -> Path:
    """Precision-recall of the anomaly score against visible-anomaly truth."""
    fig, ax = _figure(5.0, 4.8)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0:
        _empty(ax, "precision-recall not defined: no scans with visible anomalies")
    else:
        _, tp, fp = _counts_at(scores, positive)
        ax.plot(tp / n_pos, tp / np.maximum(tp + fp, 1), color="C0", label="anomaly score")
        ax.axhline(n_pos / (n_pos + n_neg), color="0.7", ls=":", lw=1, label="prevalence")
        if _finite(threshold):
            caught = scores >= threshold
            op_recall = float(caught[positive].mean())
            op_precision = float(positive[caught].mean()) if caught.any() else 1.0
            ax.plot(op_recall, op_precision, "o", color="C3", label=f"threshold {threshold:.3g}")
        ax.set(xlim=(0, 1.01), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        ax.legend(loc="lower left", fontsize=9)
        ax.grid(alpha=0.3)
    ax.set_title(f"precision-recall: visible anomaly ({n_pos} pos / {n_neg} neg)", fontsize=11)
    return _save(fig, path)


def release_plot(path: Path, scores: np.ndarray, labels: Sequence[str], recall: Any, release: Any) -> Path:
    """Release rate of clean scans against inspect recall, sweeping the anomaly threshold."""
    fig, ax = _figure(5.5, 4.5)
    must = np.array([lab == "inspect" for lab in labels], bool)
    clean = np.array([lab == "release" for lab in labels], bool)
    if not must.any() or not clean.any():
        _empty(ax, f"trade-off not defined: {int(must.sum())} 'inspect' scans, {int(clean.sum())} 'release' scans")
    else:
        keep = must | clean
        _, tp, fp = _counts_at(scores[keep], must[keep])
        # a threshold above every score inspects nothing: recall 0, everything released
        x = np.r_[0.0, tp / must.sum()]
        y = np.r_[1.0, 1 - fp / clean.sum()]
        ax.plot(x, y, color="C0", label="anomaly score alone")
        if _finite(recall) and _finite(release):
            ax.plot(recall, release, "o", color="C3", label="policy at calibrated thresholds")
        # ports operate at high recall; below 0.5 the curve says nothing anyone would act on
        ax.set(xlim=(0.5, 1.005), ylim=(0, 1.02), xlabel="inspect recall", ylabel="release rate of clean scans")
        ax.legend(loc="lower left", fontsize=9)
        ax.grid(alpha=0.3)
    ax.set_title("work saved vs. inspect recall", fontsize=11)
    return _save(fig, path)


def type_recall_plot(path: Path, recall_by_type: Mapping[str, float], count_by_type: Mapping[str, int]) -> Path:
    """Horizontal bars of recall per anomaly type, with the 0.95 bar."""
    names = list(recall_by_type)
    fig, ax = _figure(7.0, 1.2 + 0.45 * max(len(names), 2))
    if not names:
        _empty(ax, "no anomalies in these scans")
    else:
        values = [float(recall_by_type[n]) for n in names]
        colors = ["C2" if v >= RECALL_BAR else "C3" for v in values]
        y = np.arange(len(names))
        ax.barh(y, values, color=colors)
        ax.set_yticks(y, [f"{n} (n={count_by_type.get(n, '?')})" for n in names], fontsize=9)
        ax.invert_yaxis()
        for yi, v in zip(y, values):
            ax.text(min(v, 1.0) + 0.01, yi, f"{v:.1%}", va="center", fontsize=8)
        ax.axvline(RECALL_BAR, color="k", ls="--", lw=1, label=f"bar {RECALL_BAR:.2f}")
        ax.set(xlim=(0, 1.12), xlabel="share inspected")
        ax.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8)
    ax.set_title("recall by anomaly type", fontsize=11)
    return _save(fig, path)


def size_recall_plot(path: Path, recall_by_size: Mapping[str, Mapping[str, Any]]) -> Path:
    """Bars of dense-concealment recall per size bin, with the 0.90 bar."""
    fig, ax = _figure(5.5, 4.0)
    keys = list(recall_by_size)
    if not keys:
        _empty(ax, "no dense concealments in these scans")
    else:
        values = [float(recall_by_size[k]["recall"]) for k in keys]
        ticks = [f"{_size_label(k)}\nn={recall_by_size[k]['n']}" for k in keys]
        x = np.arange(len(keys))
        ax.bar(x, values, color=["C2" if v >= SIZE_BAR else "C3" for v in values])
        ax.set_xticks(x, ticks, fontsize=9)
        for xi, v in zip(x, values):
            ax.text(xi, v + 0.01, f"{v:.1%}", ha="center", va="bottom", fontsize=8)
        ax.axhline(SIZE_BAR, color="k", ls="--", lw=1, label=f"bar {SIZE_BAR:.2f}")
        ax.set(ylim=(0, 1.12), ylabel="share inspected", xlabel="object size")
        ax.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8)
    ax.set_title("dense concealment: recall by size", fontsize=11)
    return _save(fig, path)


def _size_label(key: str) -> str:
    """``"dense_250-500mm"`` -> ``"250-500 mm"``; the open-ended last bin as ``"≥ 1000 mm"``."""
    span = key.split("_", 1)[-1].removesuffix("mm")
    lo, _, hi = span.partition("-")
    if hi.isdigit() and int(hi) >= 100000:
        return f"≥ {lo} mm"
    return f"{span} mm"


def confusion_plot(path: Path, confusion: Sequence[Sequence[int]], class_names: Sequence[str]) -> Path:
    """Commodity confusion matrix: counts in cells, colour normalised per true class."""
    counts = np.asarray(confusion, dtype=np.int64).reshape(len(class_names), len(class_names))
    n = max(len(class_names), 1)
    fig, ax = _figure(1.6 + 0.5 * n, 1.2 + 0.45 * n)
    if counts.sum() == 0:
        _empty(ax, "no scans")
    else:
        # per-row colour, so a rare class's errors are as visible as a common one's
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i, j in zip(*np.nonzero(counts)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
        ticks = np.arange(n)
        ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(ticks, class_names, fontsize=8)
        ax.set(xlabel="predicted", ylabel="true")
        fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class")
    ax.set_title("commodity confusion", fontsize=11)
    return _save(fig, path)


def score_histogram(path: Path, scores: np.ndarray, records: Sequence[Mapping[str, Any]], threshold: float) -> Path:
    """Anomaly-score histograms of clean scans and of each anomaly type, log-scaled counts."""
    fig, ax = _figure(7.5, 4.5)
    groups: dict[str, np.ndarray] = {CLEAN: np.array([not r["truth"]["anomalies"] for r in records], bool)}
    for t in sorted({a["type"] for r in records for a in r["truth"]["anomalies"]}):
        groups[t] = np.array([any(a["type"] == t for a in r["truth"]["anomalies"]) for r in records], bool)
    groups = {k: m for k, m in groups.items() if m.any()}
    if not groups:
        _empty(ax, "no scans")
    else:
        lo = min(0.0, float(np.min(scores)))
        hi = max(1.0, float(np.max(scores)))
        bins = np.linspace(lo, hi, 41)
        for i, (name, mask) in enumerate(groups.items()):
            ax.hist(scores[mask], bins=bins, histtype="step", lw=2 if name == CLEAN else 1.3,
                    color="k" if name == CLEAN else f"C{i % 10}", label=f"{name} ({int(mask.sum())})")
        ax.set_yscale("log")
        if _finite(threshold):
            ax.axvline(threshold, color="C3", ls="--", lw=1, label=f"threshold {threshold:.3g}")
        ax.set(xlim=(lo, hi), xlabel="anomaly score", ylabel="scans (log)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("anomaly score by truth", fontsize=11)
    return _save(fig, path)
