"""Two models on the same scans, side by side: which is better, by how much, how sure, where they disagree.

    quayscan compare --a model/default/quayscan-default.onnx --b runs/ft/model.onnx --data data/gate --out runs/cmp
    quayscan compare --db sqlite:///var/quayscan.db --shadow ft-2 --out runs/shadow   # live cases, see compare_live

Each model decides with its own calibrated thresholds and the serving policy (``training.metrics``). The
differences (b - a) come with 95% intervals from a paired bootstrap over scans: both models are scored
on the same resampled scans, so the interval reflects the difference, not two independent noises. The
scans where the decisions differ are drawn with each model's heatmap. ``gate`` is the promotion rule and
``gate_models`` applies it to two ONNX files on a gate set (what ``quayscan models promote`` runs).

``compare_live`` reads no images: it compares what the deciding model decided on live cases with what the
shadow model would have decided on the same cases (stored by the service), and, where an officer
reviewed a case, which of the two matched the officer.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quayscan.datasets.folder import load_scan, read_labels
from quayscan.model.overlay import overlay
from quayscan.model.runner import Runner, heatmap_to_scan
from quayscan.training.evaluate import run_model
from quayscan.training.metrics import compute_metrics, decisions, roc_auc
from quayscan.training.plots import _empty, _figure, _save
from quayscan.training.report import _jsonable

log = logging.getLogger(__name__)
FIGURES = ("inspect_recall", "release_rate", "auc", "commodity_top1")
N_BOOTSTRAP = 1000
N_DISAGREEMENTS = 12


@dataclass(frozen=True)
class Tolerance:
    """How much worse than the current model a candidate may be on the gate set and still be promoted."""

    recall: float = 0.005
    release_rate: float = 0.02


def _paired(a_inspect: np.ndarray, b_inspect: np.ndarray, a_score: np.ndarray, b_score: np.ndarray,
            a_top: np.ndarray, b_top: np.ndarray, must: np.ndarray, visible: np.ndarray, truth_cls: np.ndarray,
            idx: np.ndarray) -> dict[str, float]:
    """b - a of each headline figure on the scans ``idx``."""
    m, v = must[idx], visible[idx]
    out = {}
    for name, fa, fb in (("inspect_recall", a_inspect[idx][m], b_inspect[idx][m]),
                         ("release_rate", ~a_inspect[idx][~m], ~b_inspect[idx][~m])):
        out[name] = float(fb.mean() - fa.mean()) if len(fa) else float("nan")
    out["auc"] = roc_auc(b_score[idx], v) - roc_auc(a_score[idx], v)
    out["commodity_top1"] = float((b_top[idx] == truth_cls[idx]).mean() - (a_top[idx] == truth_cls[idx]).mean())
    return out


def compare_outputs(a: dict[str, Any], b: dict[str, Any], records: list[dict[str, Any]],
                    rng: np.random.Generator | None = None, n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Differences b - a with 95% paired-bootstrap intervals.

    Args:
        a, b: per model ``{"anomaly": (N,), "commodity": (N, C), "class_names": [...], "thresholds": Thresholds}``.
        records: the label records, in the same order.
    """
    rng = rng or np.random.default_rng(0)
    must = np.array([r["label"] == "inspect" for r in records])
    visible = np.array([any(x["type"] != "manifest_mismatch" for x in r["truth"]["anomalies"]) for r in records])
    inspect, tops = {}, {}
    for name, m in (("a", a), ("b", b)):
        inspect[name] = np.array([d.decision == "inspect" for d in
                                  decisions(m["anomaly"], m["commodity"], records, m["class_names"], m["thresholds"])])
        tops[name] = np.array([m["class_names"][i] for i in m["commodity"].argmax(axis=1)])
    truth_cls = np.array([r["truth"]["commodity"] for r in records])
    args = (inspect["a"], inspect["b"], a["anomaly"], b["anomaly"], tops["a"], tops["b"], must, visible, truth_cls)
    n = len(records)
    point = _paired(*args, np.arange(n))
    boots = [_paired(*args, rng.integers(0, n, n)) for _ in range(n_boot)]
    diff = {}
    for f in FIGURES:
        vals = np.array([bt[f] for bt in boots], dtype=float)
        vals = vals[np.isfinite(vals)]
        lo, hi = (np.percentile(vals, [2.5, 97.5]) if len(vals) else (np.nan, np.nan))
        diff[f] = {"b_minus_a": point[f], "ci95": [float(lo), float(hi)]}
    disagree = np.flatnonzero(inspect["a"] != inspect["b"])
    return {"difference": diff, "disagreements": [int(i) for i in disagree],
            "decisions": {"a": inspect["a"].tolist(), "b": inspect["b"].tolist()}}


def gate(current: dict[str, Any], candidate: dict[str, Any], tol: Tolerance = Tolerance()) -> list[str]:
    """Why ``candidate`` may not replace ``current`` (empty: it may), from their metrics on the same scans."""
    problems = []
    if candidate["inspect_recall"] < current["inspect_recall"] - tol.recall:
        problems.append(f"inspect recall {candidate['inspect_recall']:.4f} is below the current model's "
                        f"{current['inspect_recall']:.4f} by more than {tol.recall}")
    if candidate["release_rate"] < current["release_rate"] - tol.release_rate:
        problems.append(f"release rate {candidate['release_rate']:.4f} is below the current model's "
                        f"{current['release_rate']:.4f} by more than {tol.release_rate}")
    return problems


def _outputs(runner: Runner, folder: Path, progress: bool) -> dict[str, Any]:
    anomaly, commodity, _ = run_model(runner, folder, progress)
    return {"anomaly": anomaly, "commodity": commodity, "class_names": runner.card.class_names,
            "thresholds": runner.thresholds}


def _picture(runners: dict[str, Runner], folder: Path, rec: dict[str, Any]) -> np.ndarray:
    scan = load_scan(folder, rec)
    rows = []
    for name, runner in runners.items():
        pred = runner.predict([scan])[0]
        pic = overlay(scan, heatmap_to_scan(pred, scan, runner.card.preprocess),
                      [x["bbox"] for x in rec["truth"]["anomalies"]], width=1200,
                      energies_mev=rec.get("energies_mev", (6.0, 3.0)))
        cv2.putText(pic, f"{name}: {runner.version}  score {pred.anomaly_prob:.3f}", (10, 28),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
        rows.append(pic)
    return np.vstack(rows)


def _evaluate(runners: dict[str, Runner], folder: Path, progress: bool) -> tuple[list, dict, dict]:
    records = read_labels(folder)
    outputs = {k: _outputs(r, folder, progress) for k, r in runners.items()}
    metrics = {k: compute_metrics(o["anomaly"], o["commodity"], records, o["class_names"], o["thresholds"])
               for k, o in outputs.items()}
    return records, outputs, metrics


def _side(runner: Runner, m: dict[str, Any]) -> dict[str, Any]:
    return {"model_version": runner.version, **{f: m[f] for f in FIGURES}, "recall_by_type": m["recall_by_type"],
            "threshold": m["threshold"]}


def gate_models(current: str | Path, candidate: str | Path, folder: str | Path, tol: Tolerance = Tolerance(),
                progress: bool = True) -> dict[str, Any]:
    """Both models on the gate set ``folder``: their figures (a: current, b: candidate) and the gate's verdict,
    shaped like ``report.json`` of :func:`compare` (without intervals or pictures)."""
    folder = Path(folder)
    runners = {"a": Runner(current), "b": Runner(candidate)}
    records, _, metrics = _evaluate(runners, folder, progress)
    problems = gate(metrics["a"], metrics["b"], tol)
    return _jsonable({"data": str(folder), "n_scans": len(records), "a": _side(runners["a"], metrics["a"]),
                      "b": _side(runners["b"], metrics["b"]),
                      "gate": {"passed": not problems, "problems": problems, "tolerance": tol.__dict__}})


def compare(model_a: str | Path | None, model_b: str | Path, folder: str | Path, out: str | Path,
            tol: Tolerance = Tolerance(), progress: bool = True) -> dict[str, Any]:
    """Evaluate both models on ``folder``, write ``report.json``, ``report.html`` and disagreement pictures."""
    folder, out = Path(folder), Path(out)
    runners = {"a": Runner(model_a), "b": Runner(model_b)}
    records, outputs, metrics = _evaluate(runners, folder, progress)
    result = compare_outputs(outputs["a"], outputs["b"], records)
    problems = gate(metrics["a"], metrics["b"], tol)
    out.mkdir(parents=True, exist_ok=True)
    (out / "disagreements").mkdir(exist_ok=True)
    for old in (out / "disagreements").glob("*.png"):
        old.unlink()
    shown = sorted(result["disagreements"], key=lambda i: -abs(outputs["a"]["anomaly"][i] - outputs["b"]["anomaly"][i]))
    pictures = []
    for i in shown[:N_DISAGREEMENTS]:
        rec = records[i]
        name = f"disagreements/{rec['id']}.png"
        cv2.imwrite(str(out / name), _picture(runners, folder, rec))
        verdict = {True: "inspect", False: "release"}
        pictures.append((name, f"{rec['id']}: truth {rec['label']}; a {verdict[result['decisions']['a'][i]]}, "
                               f"b {verdict[result['decisions']['b'][i]]}"))
    report = {
        "data": str(folder), "n_scans": len(records),
        "a": _side(runners["a"], metrics["a"]), "b": _side(runners["b"], metrics["b"]),
        "difference": result["difference"], "n_disagreements": len(result["disagreements"]),
        "gate": {"passed": not problems, "problems": problems, "tolerance": tol.__dict__},
    }
    (out / "report.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    (out / "report.html").write_text(_html(report, pictures))
    return report


def _html(r: dict[str, Any], pictures: list[tuple[str, str]]) -> str:
    e = html.escape
    rows = []
    for f in FIGURES:
        d = r["difference"][f]
        lo, hi = d["ci95"]
        rows.append(f"<tr><th>{e(f)}</th><td>{r['a'][f]:.4f}</td><td>{r['b'][f]:.4f}</td>"
                    f"<td>{d['b_minus_a']:+.4f}</td><td>[{lo:+.4f}, {hi:+.4f}]</td></tr>")
    gate_text = "passes" if r["gate"]["passed"] else "fails: " + "; ".join(r["gate"]["problems"])
    figs = "".join(f'<figure><figcaption>{e(c)}</figcaption><img src="{e(s)}" alt="{e(c)}"></figure>'
                   for s, c in pictures) or "<p>The two models decide every scan alike.</p>"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>quayscan compare</title>'
            "<style>body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em}"
            "td,th{border:1px solid #ddd;padding:.25em .8em;text-align:right}table{border-collapse:collapse}"
            "img{max-width:100%;border:1px solid #eee}</style></head><body>"
            f"<h1>{e(r['a']['model_version'])} (a) vs {e(r['b']['model_version'])} (b)</h1>"
            f"<p>{r['n_scans']} scans from {e(r['data'])}; {r['n_disagreements']} decided differently. "
            f"Promotion gate for b: <b>{e(gate_text)}</b>.</p>"
            "<table><tr><th></th><th>a</th><th>b</th><th>b - a</th><th>95% interval (paired bootstrap)</th></tr>"
            + "".join(rows) + f"</table><h2>Scans decided differently</h2>{figs}</body></html>\n")


# -- live cases: the deciding model against the shadow -------------------------------------------------

VERDICTS = ("release", "inspect")


def officer_verdict(case: dict[str, Any]) -> str | None:
    """What the officers established for a case: a physical-inspection finding is inspect, no finding or a
    clear is release, an inspection ordered and not yet done is the officer's inspect; None if unreviewed."""
    if case.get("outcome") == "finding":
        return "inspect"
    if case.get("outcome") == "no_finding" or case.get("status") == "cleared":
        return "release"
    if case.get("status") == "inspection":
        return "inspect"
    return None


def model_verdict(case: dict[str, Any]) -> str | None:
    """The deciding model's own decision: a release sent to review as a random audit sample was a release."""
    if case.get("reasons") == ["audit_sample"]:
        return "release"
    return case.get("decision")


def compare_live(rows: list[dict[str, Any]], shadow_version: str, out: str | Path) -> dict[str, Any]:
    """The deciding model's stored decisions against the shadow's on the same live cases.

    Args:
        rows: one per case the shadow scored: ``{"case": {case_id, decision, reasons, score, model_version,
            status, outcome}, "shadow": {decision, score}}``.

    Writes ``report.json``, ``report.html``, ``scores.png`` (scatter) and ``histogram.png`` to ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    live = [r for r in rows if model_verdict(r["case"]) in VERDICTS]
    matrix = {d: {s: 0 for s in VERDICTS} for d in VERDICTS}  # [deciding][shadow]
    officer = {"reviewed": 0, "both": 0, "deciding_only": 0, "shadow_only": 0, "neither": 0}
    disagreements = []
    for r in live:
        d, s = model_verdict(r["case"]), r["shadow"]["decision"]
        matrix[d][s] += 1
        truth = officer_verdict(r["case"])
        if truth is not None:
            officer["reviewed"] += 1
            key = {(True, True): "both", (True, False): "deciding_only", (False, True): "shadow_only",
                   (False, False): "neither"}[(d == truth, s == truth)]
            officer[key] += 1
        if d != s:
            disagreements.append({"case_id": r["case"]["case_id"], "deciding": d, "shadow": s, "officer": truth,
                                  "deciding_score": r["case"].get("score"), "shadow_score": r["shadow"].get("score")})
    n = len(live)
    agree = sum(matrix[v][v] for v in VERDICTS)
    deciding_versions = sorted({r["case"].get("model_version") or "none" for r in live})
    report = _jsonable({
        "shadow_version": shadow_version, "deciding_versions": deciding_versions, "n_cases": n,
        "agreement": agree / n if n else None, "matrix": matrix,
        "release_rate": {"deciding": matrix["release"]["release"] + matrix["release"]["inspect"],
                         "shadow": matrix["release"]["release"] + matrix["inspect"]["release"]},
        "officer": officer, "disagreements": disagreements,
    })
    for who in ("deciding", "shadow"):
        report["release_rate"][who] = report["release_rate"][who] / n if n else None
    pairs = np.array([(r["case"]["score"], r["shadow"]["score"]) for r in live
                      if r["case"].get("score") is not None and r["shadow"].get("score") is not None],
                     dtype=float).reshape(-1, 2)
    _live_plots(out, pairs, deciding_versions, shadow_version)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.html").write_text(_live_html(report))
    return report


def _live_plots(out: Path, pairs: np.ndarray, deciding: list[str], shadow: str) -> None:
    fig, ax = _figure(5.5, 5.0)
    if len(pairs):
        ax.scatter(pairs[:, 0], pairs[:, 1], s=8, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"deciding score ({', '.join(deciding)})")
        ax.set_ylabel(f"shadow score ({shadow})")
    else:
        _empty(ax, "no live case has both scores")
    _save(fig, out / "scores.png")
    fig, ax = _figure(6.0, 4.0)
    if len(pairs):
        bins = np.linspace(0, 1, 21)
        ax.hist(pairs[:, 0], bins=bins, alpha=0.5, label="deciding")
        ax.hist(pairs[:, 1], bins=bins, alpha=0.5, label=f"shadow {shadow}")
        ax.set_xlabel("anomaly score")
        ax.set_ylabel("live cases")
        ax.legend()
    else:
        _empty(ax, "no live case has both scores")
    _save(fig, out / "histogram.png")


def _live_html(r: dict[str, Any]) -> str:
    e = html.escape
    m, o = r["matrix"], r["officer"]
    agreement = f"{r['agreement']:.1%}" if r["agreement"] is not None else "n/a"
    rows = "".join(f"<tr><th>deciding {d}</th>" + "".join(f"<td>{m[d][s]}</td>" for s in VERDICTS) + "</tr>"
                   for d in VERDICTS)
    listed = "".join(f"<tr><td>{e(x['case_id'])}</td><td>{x['deciding']}</td><td>{x['shadow']}</td>"
                     f"<td>{x['officer'] or ''}</td></tr>" for x in r["disagreements"][:200])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>quayscan shadow compare</title>'
            "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "td,th{border:1px solid #ddd;padding:.25em .8em;text-align:right}table{border-collapse:collapse}"
            "img{max-width:48%}</style></head><body>"
            f"<h1>Shadow {e(r['shadow_version'])} vs deciding {e(', '.join(r['deciding_versions']))}</h1>"
            f"<p>{r['n_cases']} live cases; the two agree on {agreement}. Reviewed by officers: {o['reviewed']} "
            f"(both matched the officer {o['both']}, only the deciding model {o['deciding_only']}, only the shadow "
            f"{o['shadow_only']}, neither {o['neither']}).</p>"
            "<table><tr><th></th><th>shadow release</th><th>shadow inspect</th></tr>" + rows + "</table>"
            '<p><img src="scores.png" alt="scores"> <img src="histogram.png" alt="histogram"></p>'
            "<h2>Cases decided differently</h2><table><tr><th>case</th><th>deciding</th><th>shadow</th>"
            f"<th>officer</th></tr>{listed}</table></body></html>\n")
