"""The scanner API through the real HTTP app: every file format, idempotency, bad input, fail closed."""

from __future__ import annotations

import io
import json
import time

import cv2
import numpy as np
import pytest
import tifffile
from fastapi.testclient import TestClient
from serve_fixtures import Service, app_in, make_keys, make_scans, png



@pytest.fixture(scope="module")
def scans():
    return make_scans(3)


def start(tmp_path, **settings):
    app = app_in(tmp_path, **settings)
    return app


@pytest.fixture
def service(tmp_path):
    app = start(tmp_path, max_upload_mb=4)
    with TestClient(app) as client:
        yield Service(client, app, make_keys(app), tmp_path)


def stored_scan_files(svc: Service) -> list:
    return [p for p in (svc.root / "blobs").rglob("*") if p.is_file() and "scans" in p.parts]


# -- happy paths --------------------------------------------------------------------------------------
def test_png_pair_is_stored_decided_and_readable(service, scans):
    scan = scans[0]
    r = service.post(scan)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["decision"] in ("release", "inspect") and body["status"] == "decided"
    assert set(body) >= {"case_id", "decision", "reasons", "score", "threshold", "commodity", "model_version",
                         "latency_ms", "heatmap"}
    assert 0 <= body["score"] <= 1 and body["model_version"] == service.app.state.services.engine.current.version
    declared = scan.labels["declared"]["commodity"]  # None: an HS code outside the library
    assert body["commodity"]["declared"] == ([declared] if declared else None)
    assert body["commodity"]["predicted"] in service.app.state.services.engine.current.runner.card.class_names
    assert (body["decision"] == "release") == (body["reasons"] == [])
    officer = service.auth("officer")
    case = service.client.get(f"/v1/cases/{body['case_id']}", headers=officer).json()
    assert case["decision"] == body["decision"] and case["container_id"] == scan.container_id
    original = service.client.get(body["images"]["high"], headers=officer)
    assert original.content == scan.high_png and original.headers["content-type"] == "image/png"
    raw = service.client.get(body["images"]["low"] + "?format=raw", headers=officer)
    pixels = np.frombuffer(raw.content, "<u2").reshape(int(raw.headers["x-height"]), int(raw.headers["x-width"]))
    assert np.array_equal(pixels, scan.low)
    heat = service.client.get(body["heatmap"], headers=officer)
    img = cv2.imdecode(np.frombuffer(heat.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape == scan.high.shape and img.dtype == np.uint8


def _tiff(*pages: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tif:
        for p in pages:
            tif.write(p)
    return buf.getvalue()


def _dicos_with_spacing(dicos_dir) -> bytes:
    from pydicom import dcmread
    from test_readers import dcm_bytes

    ds = dcmread(dicos_dir / "SimpleProcessingDX.dcs")
    ds.PixelSpacing = [4.0, 6.0]  # (row, column)
    return dcm_bytes(ds)


def test_every_file_format(service, scans, dicos_dir):
    scan = scans[1]
    meta = json.dumps(scan.meta())
    cases = {
        "png single energy": ({"high": ("h.png", scan.high_png)}, meta, "png", False),
        "tiff two pages": ({"high": ("h.tif", _tiff(scan.high, scan.low))}, meta, "tiff", True),
        "tiff pair": ({"high": ("h.tif", _tiff(scan.high)), "low": ("l.tif", _tiff(scan.low))}, meta, "tiff", True),
        "dicos dx": ({"high": ("x.dcs", (dicos_dir / "SimpleProcessingDX.dcs").read_bytes())}, meta, "dicos", False),
        "dicos dx with spacing": ({"high": ("x.dcs", _dicos_with_spacing(dicos_dir))},
                                  json.dumps(scan.meta(pixel_pitch_mm=None)), "dicos", False),
    }
    for name, (files, meta_text, fmt, dual) in cases.items():
        r = service.client.post("/v1/scans", headers=service.auth("scanner"), files=files, data={"meta": meta_text})
        assert r.status_code == 201, (name, r.text)
        case = service.client.get(f"/v1/cases/{r.json()['case_id']}", headers=service.auth("officer")).json()
        assert r.json()["decision"] in ("release", "inspect"), name
        assert (case["images"]["low"] is not None) == (dual and "low" in files), name
    stored = service.client.get("/v1/cases?limit=10", headers=service.auth("officer")).json()
    assert stored["total"] == len(cases)
    # a DICOS file that carries its pixel spacing needs none in meta
    assert [c["pixel_pitch_mm"] for c in stored["items"] if c["width_px"] == 256] == [[6.0, 4.0], [20.0, 20.0]]


# -- idempotency -------------------------------------------------------------------------------------
def test_retry_with_same_key_returns_same_case(service, scans):
    first = service.post(scans[0], key="gate-1/000123")
    again = service.post(scans[0], key="gate-1/000123")
    assert first.status_code == again.status_code == 201
    assert again.json()["case_id"] == first.json()["case_id"] and again.json()["decision"] == first.json()["decision"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert service.count_cases() == 1 and len(stored_scan_files(service)) == 2
    other = service.post(scans[1], key="gate-1/000123")
    assert other.status_code == 409 and "different scan" in other.json()["error"]["message"]
    assert service.count_cases() == 1 and len(stored_scan_files(service)) == 2


def test_keys_are_scoped_per_api_key(service, scans):
    from quayscan.serve.storage.credentials import create_api_key

    with service.app.state.db() as s:
        other = create_api_key(s, "gate-2", "scanner")[1]
    a = service.post(scans[0], key="7")
    from serve_fixtures import scan_request

    b = service.client.post("/v1/scans", headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "7"},
                            **scan_request(scans[0]))
    assert a.status_code == b.status_code == 201 and a.json()["case_id"] != b.json()["case_id"]


# -- bad input -----------------------------------------------------------------------------------------
def _rgb16(scan):
    return png(np.dstack([scan.high] * 3))


BAD = {
    # name: (files builder, meta changes or raw meta text, status, code, words in the message)
    "check digit": (None, {"container_id": "CSQU3054384"}, 422, "bad_container_id", "check digit"),
    "not iso 6346": (None, {"container_id": "ABC123"}, 422, "bad_container_id", "ISO 6346"),
    "text file": (lambda s: {"high": ("h.txt", b"hello, this is not a scan")}, {}, 415, "unsupported_format", "high"),
    "jpeg": (lambda s: {"high": ("h.jpg", cv2.imencode(".jpg", (s.high >> 8).astype(np.uint8))[1].tobytes())},
             {}, 415, "unsupported_format", "JPEG"),
    "8-bit png": (lambda s: {"high": ("h.png", png((s.high >> 8).astype(np.uint8)))}, {}, 422, "bit_depth", "8-bit"),
    "rgb png": (lambda s: {"high": ("h.png", _rgb16(s))}, {}, 422, "channels", "RGB"),
    "size mismatch": (lambda s: {"high": ("h.png", s.high_png), "low": ("l.png", png(s.low[:, :-8]))}, {}, 422,
                      "energy_mismatch", "low"),
    "too small": (lambda s: {"high": ("h.png", png(s.high[:32, :32]))}, {}, 422, "dimensions", "32"),
    "no meta": (lambda s: {"high": ("h.png", s.high_png)}, None, 422, "missing_field", "meta"),
    "meta not json": (None, "{container_id: 1", 422, "bad_meta", "JSON"),
    "no container id": (None, {"container_id": None}, 422, "missing_field", "container_id"),
    "no scanner id": (None, {"scanner_id": None}, 422, "missing_field", "scanner_id"),
    "no scan time": (None, {"scanned_at": None}, 422, "missing_field", "scanned_at"),
    "naive scan time": (None, {"scanned_at": "2026-11-22T08:00:00"}, 422, "bad_scanned_at", "time zone"),
    "no declaration": (None, {"declared": None}, 422, "missing_field", "declared"),
    "bad hs code": (None, {"declared": [{"hs_code": "12ab"}]}, 422, "bad_hs_code", "HS code"),
    "no pixel pitch": (None, {"pixel_pitch_mm": None}, 422, "missing_field", "pixel_pitch_mm"),
    "no high file": (lambda s: {"low": ("l.png", s.low_png)}, {}, 422, "missing_field", "high"),
    "unknown field": (lambda s: {"high": ("h.png", s.high_png), "mid": ("m.png", s.low_png)}, {}, 422,
                      "unknown_field", "mid"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_refused_and_leaves_nothing(service, scans, name):
    build, meta, status, code, words = BAD[name]
    scan = scans[0]
    files = build(scan) if build else {"high": ("h.png", scan.high_png), "low": ("l.png", scan.low_png)}
    data = {} if meta is None else {"meta": meta if isinstance(meta, str) else json.dumps(scan.meta(**meta))}
    r = service.client.post("/v1/scans", headers=service.auth("scanner"), files=files, data=data)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and words.lower() in err["message"].lower(), err
    assert service.count_cases() == 0 and stored_scan_files(service) == []


@pytest.mark.parametrize("filename, words", [("SimpleCT0000.dcs", "CT volume"), ("SimpleBaggageTDR.dcs", "Threat"),
                                             ("SimplePresentationDX.dcs", "presentation")])
def test_dicos_that_is_not_a_transmission_radiograph_is_refused(service, scans, dicos_dir, filename, words):
    r = service.client.post("/v1/scans", headers=service.auth("scanner"),
                            files={"high": ("x.dcs", (dicos_dir / filename).read_bytes())},
                            data={"meta": json.dumps(scans[0].meta())})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_radiograph" and words in r.text
    assert service.count_cases() == 0


def test_payload_over_the_limit_is_413(service, scans):
    big = {"high": ("h.png", b"\x89PNG" + bytes(5 * 2**20))}
    r = service.client.post("/v1/scans", headers=service.auth("scanner"), files=big,
                            data={"meta": json.dumps(scans[0].meta())})
    assert r.status_code == 413 and "MiB" in r.json()["error"]["message"]
    assert service.count_cases() == 0


def test_not_multipart_is_415(service):
    r = service.client.post("/v1/scans", headers=service.auth("scanner"), json={"high": "x"})
    assert r.status_code == 415 and "multipart" in r.json()["error"]["message"]


# -- fail closed -----------------------------------------------------------------------------------------
def test_model_error_decides_inspect(service, scans, monkeypatch):
    runner = service.app.state.services.engine.current.runner

    def broken(_):
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(runner, "predict", broken)
    r = service.post(scans[0])
    assert r.status_code == 201
    body = r.json()
    assert body["decision"] == "inspect" and "model_unavailable" in body["reasons"] and body["score"] is None
    assert body["heatmap"] is None


def test_model_timeout_decides_inspect(tmp_path, scans, monkeypatch):
    app = start(tmp_path, inference_timeout_s=0.2)
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app), tmp_path)
        runner = app.state.services.engine.current.runner
        real = runner.predict

        def slow(batch):
            time.sleep(1.0)
            return real(batch)

        monkeypatch.setattr(runner, "predict", slow)
        r = svc.post(scans[0])
        assert r.status_code == 201 and r.json()["decision"] == "inspect"
        assert "model_unavailable" in r.json()["reasons"]


def test_missing_declaration_list_is_inspected(service, scans):
    r = service.post(scans[0], declared=[])
    assert r.status_code == 201 and r.json()["decision"] == "inspect"
    assert "missing_declaration" in r.json()["reasons"]


def test_hs_code_outside_the_library_is_inspected(service, scans):
    r = service.post(scans[0], declared=[{"hs_code": "0101", "description": "live horses"}])
    assert r.status_code == 201 and "commodity_not_in_library" in r.json()["reasons"]
