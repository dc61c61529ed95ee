"""Operating the service: health and readiness, Prometheus metrics, model versions swapped at run time."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from serve_fixtures import Service, app_in, make_keys, make_scans
from serve_fixtures import model_copy as shared_model_copy

from quayscan.model.runner import DEFAULT_MODEL
from quayscan.serve.app import create_app
from quayscan.serve.settings import Settings


@pytest.fixture(scope="module")
def scans():
    return make_scans(2, seed=11)


@pytest.fixture
def service(tmp_path):
    app = app_in(tmp_path)
    with TestClient(app) as client:
        yield Service(client, app, make_keys(app), tmp_path)


def model_copy(tmp_path, version: str, **changes) -> bytes:
    """The shipped model's file under another version string (and other card changes)."""
    return shared_model_copy(tmp_path, version, **changes).read_bytes()


def test_health_and_readiness(service, monkeypatch):
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"model", "database", "blobs"}
    monkeypatch.setattr(service.app.state.services.blobs, "writable", lambda: False)
    down = service.client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["blobs"].startswith("not writable")


def test_metrics_parse_and_count_what_happened(service, scans):
    for scan in scans:
        assert service.post(scan).status_code == 201
    service.client.get("/v1/cases/NOPE", headers=service.auth("officer"))
    r = service.client.get("/metrics", headers=service.auth("supervisor"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    posted = [v for (name, labels), v in samples.items() if name == "quayscan_http_requests_total"
              and dict(labels) == {"route": "/v1/scans", "method": "POST", "status": "201"}]
    assert posted == [2.0]
    assert samples[("quayscan_http_requests_total", (("method", "GET"), ("route", "/v1/cases/{case_id}"),
                                                      ("status", "404")))] == 1.0
    decisions = sum(v for (name, _), v in samples.items() if name == "quayscan_decisions_total")
    assert decisions == 2
    assert samples[("quayscan_score_count", ())] == 2 and samples[("quayscan_inference_seconds_count", ())] == 2
    version = service.app.state.services.engine.current.version
    assert samples[("quayscan_model_info", (("version", version),))] == 1
    assert ("quayscan_http_request_duration_seconds_bucket" in {n for n, _ in samples})
    assert "quayscan_inference_queue" in families and "quayscan_http_in_flight" in families


def test_model_register_promote_rollback(service, scans, tmp_path):
    admin = service.auth("admin")
    first = service.client.get("/v1/models", headers=service.auth("officer")).json()
    old = first["current"]
    assert first["serving"] == old and first["models"][0]["card"]["class_names"]
    r = service.client.post("/v1/models", headers=admin, content=model_copy(tmp_path, "test-2"))
    assert r.status_code == 201 and r.json()["version"] == "test-2" and not r.json()["current"]
    assert service.post(scans[0]).json()["model_version"] == old  # registered is not current
    r = service.client.post("/v1/models/test-2/promote", headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "gate_required"  # no gate report, no force
    r = service.client.post("/v1/models/test-2/promote", headers=admin, json={"force": True, "reason": "test"})
    assert r.status_code == 200 and r.json()["current"]
    assert service.post(scans[0]).json()["model_version"] == "test-2"
    listing = service.client.get("/v1/models", headers=service.auth("officer")).json()
    assert listing["current"] == listing["serving"] == "test-2" and len(listing["models"]) == 2
    r = service.client.post("/v1/models/rollback", headers=admin)
    assert r.status_code == 200 and r.json()["version"] == old
    assert service.post(scans[1]).json()["model_version"] == old


def test_bad_model_upload_is_refused(service, tmp_path):
    admin = service.auth("admin")
    r = service.client.post("/v1/models", headers=admin, content=b"not an onnx file")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_model"
    # the same file again is the same model; another file under a registered version is a conflict
    assert service.client.post("/v1/models", headers=admin, content=DEFAULT_MODEL.read_bytes()).status_code == 201
    other_file = model_copy(tmp_path, service.app.state.services.engine.current.version, created="another day")
    r = service.client.post("/v1/models", headers=admin, content=other_file)
    assert r.status_code == 409 and "different file" in r.json()["error"]["message"]
    r = service.client.post("/v1/models/nope/promote", headers=admin)
    assert r.status_code == 404
    r = service.client.post("/v1/models/rollback", headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_previous_model"


def test_restart_decides_a_case_left_undecided(tmp_path, scans):
    from serve_fixtures import png

    from quayscan.serve.storage.blobs import LocalBlobStore, scan_key
    from quayscan.serve.storage.cases import create_case
    from quayscan.serve.storage.db import make_engine, make_session_factory, new_id
    from quayscan.serve.storage.schema import migrate

    url = f"sqlite:///{tmp_path}/q.db"
    migrate(url)
    blobs = LocalBlobStore(tmp_path / "blobs")
    case_id = new_id()
    key = scan_key(case_id, "high")
    blobs.put(key, png(scans[0].high))
    with make_session_factory(make_engine(url))() as s:
        create_case(s, case_id=case_id, scanner_id="gate-1", container_id=scans[0].container_id, high_blob_key=key,
                    pitch_mm=(20.0, 20.0), declared=[{"hs_code": "620342", "description": "shirts"}],
                    declared_commodity="garments")
    app = create_app(Settings(db_url=url, blobs_dir=str(tmp_path / "blobs")))
    with TestClient(app) as client:
        keys = make_keys(app)
        case = client.get(f"/v1/cases/{case_id}", headers={"Authorization": f"Bearer {keys['officer']}"}).json()
    assert case["status"] == "decided" and case["decision"] in ("release", "inspect")
    assert case["model_version"] == app.state.services.engine.current.version and case["score"] is not None


def test_workers_starting_together_on_a_new_database_agree_on_the_model(tmp_path):
    """Each worker of ``serve --workers N`` registers the shipped model at start; the race must not fail."""
    import threading

    from quayscan.serve.registry import ensure_current
    from quayscan.serve.storage.blobs import LocalBlobStore
    from quayscan.serve.storage.db import make_engine, make_session_factory
    from quayscan.serve.storage.registry import list_models
    from quayscan.serve.storage.schema import migrate

    url = f"sqlite:///{tmp_path}/q.db"
    migrate(url)
    factory = make_session_factory(make_engine(url))
    blobs = LocalBlobStore(tmp_path / "blobs")
    results, errors = [], []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            results.append(ensure_current(factory, blobs, None).version)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    with factory() as session:
        models = list_models(session)
    assert [m.version for m in models] == results[:1] and models[0].is_current
