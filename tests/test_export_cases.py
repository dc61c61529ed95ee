"""``quayscan dataset export``: reviewed cases become a dataset folder that training reads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_fixtures import Service, app_in, make_keys, make_scans

from quayscan.cli import main
from quayscan.datasets.folder import load_scan, read_labels, read_recipe
from quayscan.model.policy import Decision
from quayscan.model.preprocess import PreprocessConfig
from quayscan.training.data import load_samples
from quayscan.training.export_cases import export_cases, parse_when

HORSES = [{"hs_code": "0101", "description": "live horses"}]  # not in the library


@pytest.fixture(scope="module")
def scans():
    return make_scans(4)


@pytest.fixture(scope="module")
def port(tmp_path_factory, scans):
    """A service with every kind of case, reviewed through the API; yields (service, {name: case})."""
    root = tmp_path_factory.mktemp("port")
    app = app_in(root, audit_share=0.0)
    with TestClient(app) as client:
        service = Service(client, app, make_keys(app), root)
        cases = {name: service.post(scans[i]).json() for name, i in
                 (("cleared", 2), ("found", 1), ("no_finding", 3), ("never", 0), ("pending", 1), ("found_other", 2))}
        cases["horses"] = service.post(scans[0], declared=HORSES).json()
        cases["audited"] = audited_post(service, scans[3])

        review(service, cases["cleared"], "clear", note="as declared")
        review(service, cases["found"], "comment", box=[5, 6, 7, 8])  # an earlier box, superseded
        review(service, cases["found"], "inspect", box=[10.4, 20.6, 60.2, 80.9])
        review(service, cases["found"], "finding", category="dense_concealment")
        review(service, cases["no_finding"], "inspect")
        review(service, cases["no_finding"], "no_finding")
        review(service, cases["pending"], "inspect")
        review(service, cases["found_other"], "inspect")
        review(service, cases["found_other"], "finding", category="live_animals")  # not a visible type, no box
        review(service, cases["horses"], "clear")
        review(service, cases["audited"], "clear")
        yield service, cases


def audited_post(service: Service, scan) -> dict:
    """Post a scan that the model releases and the audit sample picks."""
    svc = service.app.state.services
    triage = svc.engine.triage

    async def releasing(*args, **kwargs):
        out = await triage(*args, **kwargs)
        return dataclasses.replace(out, decision=Decision("release", [], out.decision.score, out.decision.commodity))

    svc.engine.triage, svc.settings.audit_share = releasing, 1.0
    try:
        case = service.post(scan).json()
    finally:
        svc.engine.triage, svc.settings.audit_share = triage, 0.0
    assert case["reasons"] == ["audit_sample"], case
    return case


def review(service: Service, case: dict, action: str, **body) -> None:
    r = service.client.post(f"/v1/cases/{case['case_id']}/reviews", json={"action": action, **body},
                            headers=service.auth("officer"))
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def exported(port, tmp_path_factory):
    service, _ = port
    out = tmp_path_factory.mktemp("exports") / "port"
    settings = service.app.state.services.settings
    recipe = export_cases(settings.db_url, settings.blobs_dir, out, progress=False)
    return out, recipe


def test_labels_come_from_officers_and_inspections(port, exported):
    _, cases = port
    out, recipe = exported
    records = {r["id"]: r for r in read_labels(out)}
    by = {name: records.get(case["case_id"]) for name, case in cases.items()}
    assert by["never"] is None and by["pending"] is None and by["horses"] is None
    assert set(records) == {cases[n]["case_id"] for n in ("cleared", "found", "no_finding", "found_other", "audited")}

    cleared = by["cleared"]
    assert cleared["label"] == "release" and cleared["truth"]["anomalies"] == []
    assert cleared["truth"]["commodity"] == cleared["declared"]["commodity"] == cases["cleared"]["declared_commodity"]
    assert cleared["truth"]["commodity_confirmed"] is True
    assert by["no_finding"]["label"] == "release" and by["no_finding"]["provenance"]["source"] == "inspection_no_finding"

    found = by["found"]
    assert found["label"] == "inspect" and found["truth"]["commodity_confirmed"] is False
    assert found["truth"]["anomalies"] == [{"type": "dense_concealment", "bbox": [10, 20, 61, 81], "bbox_drawn": True}]
    other = by["found_other"]["truth"]["anomalies"][0]
    h, w = np.asarray(load_scan(out, by["found_other"]).high).shape
    assert other == {"type": "live_animals", "bbox": [0, 0, w, h], "bbox_drawn": False}

    assert recipe["labels"] == {"inspect": 2, "release": 3}
    assert recipe["label_sources"] == {"inspection_finding": 2, "inspection_no_finding": 1, "officer_clear": 2}
    assert recipe["excluded"] == {"awaiting_inspection": 1, "commodity_not_in_library": 1, "not_reviewed": 1}
    assert recipe["audit_samples"] == 1 and recipe["source"] == "review_export"
    assert read_recipe(out) == recipe and "sqlite:///" in recipe["db"]


def test_every_record_says_where_its_label_came_from(port, exported):
    _, cases = port
    out, _ = exported
    records = {r["id"]: r for r in read_labels(out)}
    found = records[cases["found"]["case_id"]]["provenance"]
    assert found["source"] == "inspection_finding" and found["action"] == "finding"
    assert found["decided_by"] == found["inspection_ordered_by"] == "test-officer"
    assert len(found["review_ids"]) == 3 and found["review_ids"] == sorted(found["review_ids"])
    assert found["audit_sample"] is False
    assert found["model_version"] == cases["found"]["model_version"] and found["score"] == cases["found"]["score"]
    assert found["model_decision"] == cases["found"]["decision"] and found["threshold"] == cases["found"]["threshold"]
    audited = records[cases["audited"]["case_id"]]
    assert audited["provenance"]["audit_sample"] is True and audited["provenance"]["model_reasons"] == ["audit_sample"]
    assert audited["provenance"]["source"] == "officer_clear" and audited["label"] == "release"
    service, _ = port
    entries = service.client.get(f"/v1/cases/{cases['found']['case_id']}/reviews",
                                 headers=service.auth("officer")).json()["items"]
    assert found["review_ids"] == [e["id"] for e in entries]
    assert found["decided_at"] == entries[-1]["created_at"]


def test_images_are_the_scanned_pixels_as_16_bit_png(port, scans, exported):
    _, cases = port
    out, _ = exported
    record = next(r for r in read_labels(out) if r["id"] == cases["cleared"]["case_id"])
    assert record["files"] == {"high": f"scans/{record['id']}_high.png", "low": f"scans/{record['id']}_low.png"}
    scan = load_scan(out, record)
    np.testing.assert_array_equal(scan.high, scans[2].high)
    np.testing.assert_array_equal(scan.low, scans[2].low)
    assert record["pixel_pitch_mm"] == scans[2].labels["pixel_pitch_mm"] and record["air_value"] > 0
    assert sorted(p.name for p in (out / "scans").iterdir()) == sorted(
        name for r in read_labels(out) for name in (f"{r['id']}_high.png", f"{r['id']}_low.png"))


def test_training_loads_the_export(exported):
    out, recipe = exported
    samples, data_recipe = load_samples([str(out)], [], PreprocessConfig(), progress=False)
    assert len(samples) == recipe["count"] and data_recipe[0]["count"] == recipe["count"]
    visible = {s.record["id"]: s.visible for s in samples}
    assert sorted(visible.values()) == [0, 0, 0, 0, 1]  # live_animals is not a type the image head learns
    marked = next(s for s in samples if s.visible)
    assert marked.mask.any() and marked.mask.mean() < 0.2


def test_cli_window_overwrite_and_errors(port, tmp_path, capsys):
    service, _ = port
    settings = service.app.state.services.settings
    base = ["dataset", "export", "--db", settings.db_url, "--blobs", settings.blobs_dir, "--no-progress"]
    out = tmp_path / "cli"
    assert main(base + ["--out", str(out)]) == 0
    assert "wrote 5 cases (2 inspect, 3 release; 1 from the audit sample)" in capsys.readouterr().out
    assert main(base + ["--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(base + ["--out", str(out), "--overwrite", "--until", "2020-01-01"]) == 0
    assert read_labels(out) == [] and json.loads((out / "dataset.json").read_text())["excluded"] == {}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind

    assert main(["dataset", "export", "--db", f"sqlite:///{tmp_path}/none.db", "--blobs", settings.blobs_dir,
                 "--out", str(tmp_path / "x")]) == 2
    assert "database file not found" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
    assert main(base + ["--out", str(tmp_path / "y"), "--since", "yesterday"]) == 2
    assert "--since must be a date" in capsys.readouterr().err


def test_dates_are_utc_and_a_bare_until_date_includes_its_day():
    assert parse_when("2026-11-22", "s").isoformat() == "2026-11-22T00:00:00+00:00"
    assert parse_when("2026-11-22", "u", end_of_day=True).isoformat() == "2026-11-23T00:00:00+00:00"
    assert parse_when("2026-11-22T08:00:00+02:00", "s").isoformat() == "2026-11-22T06:00:00+00:00"
    assert parse_when("2026-11-22T08:00:00", "s").isoformat() == "2026-11-22T08:00:00+00:00"
    assert parse_when(None, "s") is None
