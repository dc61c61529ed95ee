"""The KServe v2 / Open Inference Protocol routes: JSON and binary tensors, errors, and Triton's own client.

    python -m pytest tests/test_serve_oip.py -q
"""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_fixtures import app_in

from quayscan.model.runner import OUTPUTS
from quayscan.serve.storage.credentials import create_api_key

INFER = "/v2/models/quayscan/infer"
TOL = 1e-5


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The app with its model loaded, a test client, and officer and scanner keys."""
    root = tmp_path_factory.mktemp("oip")
    app = app_in(root)
    with TestClient(app) as client:
        with app.state.db() as s:
            _, officer = create_api_key(s, "cms", "officer")
            _, scanner = create_api_key(s, "gate-3", "scanner")
        yield app, client, {"Authorization": f"Bearer {officer}"}, {"Authorization": f"Bearer {scanner}"}


@pytest.fixture
def batch(service, rng) -> np.ndarray:
    app = service[0]
    height = app.state.services.engine.current.runner.card.preprocess.height
    return rng.random((1, 3, height, 256), dtype=np.float32)  # (B, 3, H, W)


def expected(app, batch: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip(OUTPUTS, app.state.services.engine.current.runner.run(batch)))


def tensor_json(batch: np.ndarray, **extra) -> dict:
    return {"name": "input", "datatype": "FP32", "shape": list(batch.shape), **extra}


def binary_body(batch: np.ndarray, **request) -> tuple[bytes, dict[str, str]]:
    raw = batch.astype("<f4").tobytes()
    head = json.dumps({"inputs": [tensor_json(batch, parameters={"binary_data_size": len(raw)})], **request}).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"}


def read_binary(r) -> tuple[dict, dict[str, np.ndarray]]:
    n = int(r.headers["inference-header-content-length"])
    head, offset, arrays = json.loads(r.content[:n]), n, {}
    for t in head["outputs"]:
        size = t["parameters"]["binary_data_size"]
        arrays[t["name"]] = np.frombuffer(r.content[offset:offset + size], "<f4").reshape(t["shape"])
        offset += size
    assert offset == len(r.content)
    return head, arrays


def test_server_metadata_and_health(service):
    app, client, officer, _ = service
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2", headers=officer).json()
    assert meta["name"] == "quayscan" and meta["version"] == app.version
    assert "binary_tensor_data" in meta["extensions"]


def test_model_metadata_comes_from_the_session(service):
    app, client, officer, _ = service
    model = app.state.services.engine.current
    meta = client.get("/v2/models/quayscan", headers=officer).json()
    assert meta["name"] == "quayscan" and meta["versions"] == [model.version]
    assert meta["platform"] == "onnxruntime_onnx"
    height = model.runner.card.preprocess.height
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, height, -1]}]
    assert [o["name"] for o in meta["outputs"]] == list(OUTPUTS)
    assert meta["outputs"][1] == {"name": "commodity_logits", "datatype": "FP32",
                                  "shape": [-1, len(model.runner.card.class_names)]}
    assert client.get(f"/v2/models/quayscan/versions/{model.version}", headers=officer).json() == meta
    assert client.get("/v2/models/quayscan/ready", headers=officer).status_code == 200
    assert client.get(f"/v2/models/quayscan/versions/{model.version}/ready", headers=officer).status_code == 200


def test_json_infer_matches_the_runner(service, batch):
    app, client, officer, _ = service
    body = {"id": "req-7", "inputs": [tensor_json(batch, data=batch.ravel().tolist())]}
    r = client.post(INFER, json=body, headers=officer)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-7" and out["model_name"] == "quayscan"
    assert out["model_version"] == app.state.services.engine.current.version
    want = expected(app, batch)
    assert [t["name"] for t in out["outputs"]] == list(OUTPUTS)
    for t in out["outputs"]:
        assert t["datatype"] == "FP32" and t["shape"] == list(want[t["name"]].shape)
        np.testing.assert_allclose(np.asarray(t["data"], np.float32).reshape(t["shape"]), want[t["name"]], atol=TOL)


def test_json_infer_takes_nested_data_and_an_output_subset(service, batch):
    app, client, officer, _ = service
    body = {"inputs": [tensor_json(batch, data=batch.tolist())], "outputs": [{"name": "commodity_logits"}]}
    out = client.post(INFER, json=body, headers=officer).json()
    assert "id" not in out and [t["name"] for t in out["outputs"]] == ["commodity_logits"]
    np.testing.assert_allclose(out["outputs"][0]["data"], expected(app, batch)["commodity_logits"].ravel(), atol=TOL)


def test_binary_infer_matches_the_runner(service, batch):
    app, client, officer, _ = service
    body, headers = binary_body(batch, parameters={"binary_data_output": True})
    r = client.post(INFER, content=body, headers={**officer, **headers})
    assert r.status_code == 200, r.text
    head, arrays = read_binary(r)
    assert head["model_version"] == app.state.services.engine.current.version
    want = expected(app, batch)
    for name in OUTPUTS:
        np.testing.assert_allclose(arrays[name], want[name], atol=TOL)


def test_binary_per_output_mixes_with_json(service, batch):
    app, client, officer, _ = service
    outputs = [{"name": "heatmap", "parameters": {"binary_data": True}}, {"name": "inspect_logit"}]
    body, headers = binary_body(batch, outputs=outputs)
    r = client.post(f"/v2/models/quayscan/versions/{app.state.services.engine.current.version}/infer",
                    content=body, headers={**officer, **headers})
    n = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:n])
    heat, logit = head["outputs"]
    want = expected(app, batch)
    np.testing.assert_allclose(np.frombuffer(r.content[n:], "<f4").reshape(heat["shape"]), want["heatmap"], atol=TOL)
    assert "data" not in heat and "parameters" not in logit
    np.testing.assert_allclose(logit["data"], want["inspect_logit"], atol=TOL)


def test_json_request_gets_json_answer(service, batch):
    _, client, officer, _ = service
    r = client.post(INFER, json={"inputs": [tensor_json(batch, data=batch.ravel().tolist())]}, headers=officer)
    assert r.headers["content-type"].startswith("application/json")
    assert "inference-header-content-length" not in r.headers


def test_infer_needs_an_officer_key(service, batch):
    _, client, _, scanner = service
    body = {"inputs": [tensor_json(batch, data=batch.ravel().tolist())]}
    assert client.post(INFER, json=body).status_code == 401
    r = client.post(INFER, json=body, headers=scanner)
    assert r.status_code == 403 and "officer" in r.json()["error"]
    assert client.get("/v2/models/quayscan", headers=scanner).status_code == 403


def test_unknown_model_or_version_is_404(service, batch):
    _, client, officer, _ = service
    body = {"inputs": [tensor_json(batch, data=batch.ravel().tolist())]}
    r = client.post("/v2/models/resnet50/infer", json=body, headers=officer)
    assert r.status_code == 404 and "resnet50" in r.json()["error"]
    assert client.get("/v2/models/resnet50", headers=officer).status_code == 404
    assert client.get("/v2/models/quayscan/versions/nope", headers=officer).status_code == 404
    assert client.post("/v2/models/quayscan/versions/nope/infer", json=body, headers=officer).status_code == 404


@pytest.mark.parametrize("change, code, words", [
    ({"name": "image"}, "unknown_input", "'image'"),
    ({"datatype": "FP64"}, "bad_datatype", "FP64"),
    ({"datatype": "INT32"}, "bad_datatype", "INT32"),
    ({"shape": [1, 3, 100, 256]}, "bad_shape", "[1, 3, 100, 256]"),
    ({"shape": [1, 3, 192]}, "bad_shape", "[1, 3, 192]"),
    ({"shape": [0, 3, 192, 256]}, "bad_shape", "[0, 3, 192, 256]"),
    ({"shape": [1, 3, 192, 255]}, "bad_shape", "147456 values"),
    ({"data": None}, "missing_data", "'input'"),
    ({"data": ["a"] * 147456}, "bad_data", "numbers"),
    ({"data": [float("nan")] * 147456}, "bad_data", "NaN"),
])
def test_bad_json_input_is_400(service, change, code, words):
    _, client, officer, _ = service
    t = {"name": "input", "datatype": "FP32", "shape": [1, 3, 192, 256], "data": [0.0] * (3 * 192 * 256), **change}
    r = client.post(INFER, content=json.dumps({"inputs": [t]}), headers=officer)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code and words in r.json()["error"]


@pytest.mark.parametrize("declared, extra, header_delta, words", [
    (None, 0, 0, "binary_data_size says 100"),     # declared size disagrees with the shape
    ("shape", 4, 0, "add up to"),                   # trailing bytes after the tensor
    ("shape", -4, 0, "needs bytes"),                # body cut short
    ("shape", 0, 10**9, "not a byte count"),        # header length beyond the body
])
def test_bad_binary_input_is_400(service, batch, declared, extra, header_delta, words):
    _, client, officer, _ = service
    raw = batch.astype("<f4").tobytes()
    size = len(raw) if declared == "shape" else 100
    head = json.dumps({"inputs": [tensor_json(batch, parameters={"binary_data_size": size})]}).encode()
    body = head + (raw + b"\0" * extra if extra >= 0 else raw[:extra])
    headers = {**officer, "Inference-Header-Content-Length": str(len(head) + header_delta)}
    r = client.post(INFER, content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]


def test_bad_requests_name_the_problem(service, batch):
    _, client, officer, _ = service
    ok = tensor_json(batch, data=batch.ravel().tolist())
    cases = [
        ({"inputs": []}, "missing_input"),
        ({"inputs": [ok, ok]}, "duplicate_input"),
        ({"inputs": [ok], "outputs": [{"name": "logits"}]}, "unknown_output"),
        ({"inputs": [ok], "id": 7}, "bad_request"),
        ({"input": [ok]}, "bad_request"),
    ]
    for body, code in cases:
        r = client.post(INFER, json=body, headers=officer)
        assert (r.status_code, r.json()["code"]) == (400, code), (body.keys(), r.text)
    r = client.post(INFER, content=b"{not json", headers=officer)
    assert (r.status_code, r.json()["code"]) == (400, "bad_json")


# -- Triton's own client against a live server ----------------------------------------------------
@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """uvicorn serving the app on a free port of 127.0.0.1, in a thread; yields (url, officer headers, app)."""
    import uvicorn

    root = tmp_path_factory.mktemp("oip-live")
    app = app_in(root)
    with app.state.db() as s:
        _, token = create_api_key(s, "bench", "officer")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the socket is handed to uvicorn: no race for the port
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", {"Authorization": f"Bearer {token}"}, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_tritonclient_binary_and_json_agree_with_the_runner(live_server, rng):
    from tritonclient import http
    from tritonclient.utils import InferenceServerException

    url, auth, app = live_server

    def headers() -> dict[str, str]:
        return dict(auth)  # a new dict each call: tritonclient writes its own headers into the one it is given

    model = app.state.services.engine.current
    batch = rng.random((1, 3, model.runner.card.preprocess.height, 256), dtype=np.float32)
    want = expected(app, batch)
    client = http.InferenceServerClient(url)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("quayscan", headers=headers())
        meta = client.get_model_metadata("quayscan", headers=headers())
        assert meta["versions"] == [model.version] and meta["inputs"][0]["name"] == "input"
        for binary in (True, False):
            x = http.InferInput("input", list(batch.shape), "FP32")
            x.set_data_from_numpy(batch, binary_data=binary)
            outputs = [http.InferRequestedOutput(name, binary_data=binary) for name in OUTPUTS]
            result = client.infer("quayscan", [x], outputs=outputs, request_id=f"r-{binary}", headers=headers())
            answer = result.get_response()
            assert answer["id"] == f"r-{binary}" and all(("data" in t) != binary for t in answer["outputs"])
            for name in OUTPUTS:
                np.testing.assert_allclose(result.as_numpy(name), want[name], atol=TOL, err_msg=f"{name} {binary=}")
        x = http.InferInput("input", list(batch.shape), "FP32")
        x.set_data_from_numpy(batch)
        default = client.infer("quayscan", [x], headers=headers())  # no outputs named: all, as binary
        np.testing.assert_allclose(default.as_numpy("heatmap"), want["heatmap"], atol=TOL)
        with pytest.raises(InferenceServerException) as err:
            client.infer("quayscan", [x])
        assert err.value.status() == "401" and "API key" in str(err.value)
        wrong = http.InferInput("input", [1, 3, 64, 64], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 3, 64, 64), np.float32))
        with pytest.raises(InferenceServerException) as err:
            client.infer("quayscan", [wrong], headers=headers())
        assert err.value.status() == "400" and "shape" in str(err.value)  # the client prints the message
    finally:
        client.close()
