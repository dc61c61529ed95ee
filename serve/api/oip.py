"""The KServe v2 / Open Inference Protocol subset: Triton and KServe clients call the model directly.

    GET  /v2                                          (officer+)  server metadata and extensions
    GET  /v2/health/live, /v2/health/ready            (open)      200; ready is 503 while no model is loaded
    GET  /v2/models/quayscan[/versions/V]             (officer+)  the raw tensors the model takes and gives
    GET  /v2/models/quayscan[/versions/V]/ready       (officer+)
    POST /v2/models/quayscan[/versions/V]/infer       (officer+)  JSON tensors or Triton's binary tensor data

    import tritonclient.http as http
    client = http.InferenceServerClient("127.0.0.1:8000")
    x = http.InferInput("input", [1, 3, 192, 256], "FP32"); x.set_data_from_numpy(batch)
    out = client.infer("quayscan", [x], headers={"Authorization": "Bearer qsk_..."})
    out.as_numpy("inspect_logit"), out.as_numpy("commodity_logits"), out.as_numpy("heatmap")

"quayscan" is the model that decides now; its registered version is the only version served. This is the
raw model (preprocessed batch in, logits and heatmap out), with no decision, case or stored image: an ML
engineer's bench and a bridge to tooling that speaks the protocol. Binary tensors are little-endian, row
major, inputs in request order after the first ``Inference-Header-Content-Length`` bytes of JSON.

Errors under ``/v2`` have the protocol's shape, ``{"error": "message"}``, plus the service's machine-readable
``"code"`` beside it (serve/errors.py), so standard clients print the message.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from quayscan.model.runner import OUTPUTS
from quayscan.serve.api.scans import read_body
from quayscan.serve.auth import require
from quayscan.serve.engine import LoadedModel
from quayscan.serve.intake import BadRequest
from quayscan.serve.storage.errors import NotFoundError

MODEL_NAME = "quayscan"
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]
#: protocol datatype, ONNX element type, numpy dtype (little-endian, as on the wire)
DATATYPES = [("FP32", "tensor(float)", "<f4"), ("FP16", "tensor(float16)", "<f2"), ("FP64", "tensor(double)", "<f8"),
             ("INT64", "tensor(int64)", "<i8"), ("INT32", "tensor(int32)", "<i4"), ("INT8", "tensor(int8)", "i1"),
             ("UINT8", "tensor(uint8)", "u1"), ("BOOL", "tensor(bool)", "?")]
_FROM_ONNX = {onnx: (name, np.dtype(dt)) for name, onnx, dt in DATATYPES}
_FROM_NUMPY = {np.dtype(dt).newbyteorder("="): name for name, _, dt in DATATYPES}

router = APIRouter(tags=["open inference protocol"])
officer = [Depends(require("officer"))]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    dtype: np.dtype
    shape: list[int]  # -1 where any size goes

    def public(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def _spec(arg, fixed: dict[int, int] | None = None) -> TensorSpec:
    datatype, dtype = _FROM_ONNX.get(arg.type, (arg.type, None))
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in arg.shape]
    for axis, size in (fixed or {}).items():
        shape[axis] = size
    return TensorSpec(arg.name, datatype, dtype, shape)


def specs(model: LoadedModel) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs as the ONNX session declares them; the image height is the card's."""
    session, card = model.runner.session, model.runner.card
    inputs = [_spec(a, {2: card.preprocess.height} if len(a.shape) == 4 else None) for a in session.get_inputs()]
    return inputs, [_spec(a) for a in session.get_outputs()]


def loaded(request: Request, name: str, version: str | None = None) -> LoadedModel:
    """The model a ``/v2/models/{name}[/versions/{version}]`` path names: the one that decides now."""
    if name != MODEL_NAME:
        raise NotFoundError(f"unknown model {name!r}; this server serves {MODEL_NAME!r}, the model that decides")
    model = request.app.state.services.engine.current
    if model is None:
        raise BadRequest("model_not_ready", "no model is loaded yet", status=503)
    if version is not None and version != model.version:
        raise NotFoundError(f"model {name!r} has no version {version!r} loaded; version {model.version!r} decides")
    return model


# -- request decoding -----------------------------------------------------------------------------
def _bad(code: str, message: str) -> BadRequest:
    return BadRequest(code, message, status=400)


def split_body(body: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The JSON request object and the binary tensor data after it."""
    if header_length is None:
        head, tail = body, b""
    else:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise _bad("bad_header_length", f"{HEADER_LENGTH} {header_length!r} is not a byte count within "
                                            f"the {len(body)}-byte body")
        head, tail = body[:int(header_length)], body[int(header_length):]
    try:
        req = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad("bad_json", f"the inference request is not JSON: {exc}") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list):
        raise _bad("bad_request", "the inference request must be a JSON object with an 'inputs' list")
    if "id" in req and not isinstance(req["id"], str):
        raise _bad("bad_request", f"request 'id' must be a string, got {req['id']!r}")
    return req, tail


def _params(obj: dict, where: str) -> dict:
    params = obj.get("parameters") or {}
    if not isinstance(params, dict):
        raise _bad("bad_request", f"'parameters' of {where} must be an object, got {params!r}")
    return params


def _shape(t: dict, spec: TensorSpec) -> list[int]:
    shape = t.get("shape")
    if (not isinstance(shape, list) or len(shape) != len(spec.shape)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
            or any(want not in (-1, got) for want, got in zip(spec.shape, shape))):
        raise _bad("bad_shape", f"input {spec.name!r} has shape {shape!r}; the model takes {spec.shape} "
                                "(-1: any size of at least 1)")
    return shape


def decode_inputs(req: dict, binary: bytes, wanted: list[TensorSpec]) -> dict[str, np.ndarray]:
    """Each input as an array of its declared shape, checked against the model's inputs."""
    by_name = {s.name: s for s in wanted}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for t in req["inputs"]:
        name = t.get("name") if isinstance(t, dict) else None
        if name not in by_name:
            raise _bad("unknown_input", f"input {name!r} is not an input of the model; it takes {sorted(by_name)}")
        if name in arrays:
            raise _bad("duplicate_input", f"input {name!r} is sent twice")
        spec = by_name[name]
        if t.get("datatype") != spec.datatype:
            raise _bad("bad_datatype", f"input {name!r} has datatype {t.get('datatype')!r}; the model takes {spec.datatype}")
        shape = _shape(t, spec)
        count = math.prod(shape)
        size = _params(t, f"input {name!r}").get("binary_data_size")
        if size is not None:
            need = count * spec.dtype.itemsize
            if size != need:
                raise _bad("bad_byte_count", f"input {name!r} of shape {shape} in {spec.datatype} is {need} bytes; "
                                             f"binary_data_size says {size!r}")
            if offset + need > len(binary):
                raise _bad("bad_byte_count", f"input {name!r} needs bytes {offset} to {offset + need} of the tensor "
                                             f"data after the JSON header, which has {len(binary)}")
            arr = np.frombuffer(binary, spec.dtype, count, offset).reshape(shape)
            offset += need
        else:
            arr = _from_json(t.get("data"), spec, shape, count)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise _bad("bad_data", f"input {name!r} contains NaN or infinity")
        arrays[name] = arr
    if offset != len(binary):
        raise _bad("bad_byte_count", f"the body has {len(binary)} bytes of tensor data after the JSON header; "
                                     f"the inputs' binary_data_size add up to {offset}")
    if missing := sorted(set(by_name) - set(arrays)):
        raise _bad("missing_input", f"input(s) {missing} are missing")
    return arrays


def _from_json(data: Any, spec: TensorSpec, shape: list[int], count: int) -> np.ndarray:
    if data is None:
        raise _bad("missing_data", f"input {spec.name!r} has neither 'data' nor parameters.binary_data_size")
    try:
        arr = np.asarray(data)
    except ValueError:  # ragged nesting
        raise _bad("bad_data", f"input {spec.name!r} data is not a regular array of numbers") from None
    if arr.dtype.kind not in "biuf":
        raise _bad("bad_data", f"input {spec.name!r} data must be numbers, got {arr.dtype.kind!r} values")
    if arr.size != count:
        raise _bad("bad_shape", f"input {spec.name!r} has {arr.size} values; shape {shape} needs {count}")
    return arr.astype(spec.dtype).reshape(shape)


def requested_outputs(req: dict, names: list[str]) -> list[tuple[str, bool]]:
    """(name, as binary) for each output to return, in the order asked (all outputs if none are named)."""
    default_binary = _params(req, "the request").get("binary_data_output", False) is True
    asked = req.get("outputs")
    if asked is None:
        return [(n, default_binary) for n in names]
    if not isinstance(asked, list) or not asked:
        raise _bad("bad_request", "'outputs' must be a non-empty list of {'name': ...} objects")
    out = []
    for o in asked:
        name = o.get("name") if isinstance(o, dict) else None
        if name not in names:
            raise _bad("unknown_output", f"output {name!r} is not an output of the model; it gives {names}")
        out.append((name, _params(o, f"output {name!r}").get("binary_data", default_binary) is True))
    return out


# -- response encoding ----------------------------------------------------------------------------
def encode_response(model: LoadedModel, request_id: str | None, outputs: list[tuple[str, np.ndarray, bool]]) -> Response:
    """JSON, or the JSON header followed by the binary outputs when any output is asked for as binary."""
    header: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": model.version}
    if request_id is not None:
        header["id"] = request_id
    header["outputs"], chunks = [], []
    for name, arr, binary in outputs:
        t = {"name": name, "datatype": _FROM_NUMPY[arr.dtype.newbyteorder("=")], "shape": list(arr.shape)}
        if binary:
            raw = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
            t["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            t["data"] = arr.ravel().tolist()
        header["outputs"].append(t)
    head = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return Response(head, media_type="application/json")
    return Response(head + b"".join(chunks), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(head))})


# -- routes ---------------------------------------------------------------------------------------
@router.get("/v2", dependencies=officer)
def server_metadata(request: Request) -> dict:
    return {"name": MODEL_NAME, "version": request.app.version, "extensions": EXTENSIONS}


@router.get("/v2/health/live")
def live() -> dict:
    return {"live": True}


@router.get("/v2/health/ready")
def ready(request: Request) -> JSONResponse:
    """Ready when a model is loaded: that is all these routes need (``/readyz`` checks the whole service)."""
    is_ready = request.app.state.services.engine.current is not None
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/v2/models/{name}", dependencies=officer)
@router.get("/v2/models/{name}/versions/{version}", dependencies=officer)
def model_metadata(request: Request, name: str, version: str | None = None) -> dict:
    model = loaded(request, name, version)
    inputs, outputs = specs(model)
    return {"name": MODEL_NAME, "versions": [model.version], "platform": "onnxruntime_onnx",
            "inputs": [s.public() for s in inputs], "outputs": [s.public() for s in outputs]}


@router.get("/v2/models/{name}/ready", dependencies=officer)
@router.get("/v2/models/{name}/versions/{version}/ready", dependencies=officer)
def model_ready(request: Request, name: str, version: str | None = None) -> dict:
    model = loaded(request, name, version)
    return {"name": MODEL_NAME, "version": model.version, "ready": True}


@router.post("/v2/models/{name}/infer", dependencies=officer)
@router.post("/v2/models/{name}/versions/{version}/infer", dependencies=officer)
async def infer(request: Request, name: str, version: str | None = None) -> Response:
    """Run the model on one preprocessed batch (B, 3, H, W), H the card's height; no decision is made."""
    model = loaded(request, name, version)  # held to the end: a swap meanwhile does not mix two models
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise BadRequest("unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; send it "
                                                 "uncompressed", status=415)
    body = await read_body(request, request.app.state.services.settings.max_upload_bytes)
    req, binary = split_body(body, request.headers.get(HEADER_LENGTH))
    input_specs, output_specs = specs(model)
    arrays = decode_inputs(req, binary, input_specs)
    wanted = requested_outputs(req, [s.name for s in output_specs])
    results = dict(zip(OUTPUTS, await asyncio.to_thread(model.runner.run, arrays[model.runner.input_name])))
    return encode_response(model, req.get("id"), [(n, results[n], binary) for n, binary in wanted])
