"""A client for the ResNet gradient service, in one file, on the standard library alone.

numpy is used when it is installed: results come back as numpy arrays, and large batches travel
as raw little-endian float64s. Without numpy, results are lists of floats, and binary transport
uses the standard library's ``array`` module.

    from resnet_gradient import Client

    client = Client("http://localhost:3000")
    values, gradients = client.gradient("demo", [[0.5, -0.25]])

Every error answer raises ProblemError, which carries the problem details (RFC 9457) the service
sent: ``status``, ``kind`` (the problem type's last segment), ``detail`` (naming the field) and the
whole ``problem``.
"""

from __future__ import annotations

import array
import http.client
import json
import os
import sys
import urllib.parse

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the tests with numpy hidden
    _np = None

__all__ = ["Client", "ProblemError", "BINARY_THRESHOLD"]

#: From this many points, batches travel as raw float64s (JSON below it).
BINARY_THRESHOLD = 1000

_OCTET_STREAM = "application/octet-stream"
_JSON = "application/json"
_WEIGHT_TYPES = {".npz": "application/x-npz", ".safetensors": "application/x-safetensors"}
_LITTLE_ENDIAN = sys.byteorder == "little"


class ProblemError(Exception):
    """The service answered an error: ``status``, ``kind``, ``detail`` and the whole ``problem``."""

    def __init__(self, status: int, problem: dict):
        self.status = status
        self.problem = problem
        self.kind = str(problem.get("type", "")).rsplit("/", 1)[-1] or None
        self.detail = problem.get("detail") or problem.get("error") or problem.get("title") or ""
        self.retry_after = None
        super().__init__(f"{status} {self.kind}: {self.detail}")


def _rows(points):
    """Points as a list of rows of floats, and their width."""
    if _np is not None:
        matrix = _np.asarray(points, dtype=float)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        return matrix.tolist(), matrix.shape[1]
    rows = [[float(x) for x in row] for row in points]
    return rows, (len(rows[0]) if rows else 0)


def _count(points) -> int:
    return len(points) if not (_np is not None and isinstance(points, _np.ndarray) and points.ndim == 1) else 1


def _float64_bytes(points) -> tuple[bytes, int, int]:
    """Points as little-endian float64 bytes, their count and width."""
    if _np is not None:
        matrix = _np.ascontiguousarray(points, dtype="<f8")
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        return matrix.tobytes(), matrix.shape[0], matrix.shape[1]
    rows, width = _rows(points)
    numbers = array.array("d", (x for row in rows for x in row))
    if not _LITTLE_ENDIAN:  # pragma: no cover
        numbers.byteswap()
    return numbers.tobytes(), len(rows), width


def _from_float64_bytes(data: bytes, shape: tuple):
    """Little-endian float64s as an array of ``shape`` (numpy), or nested lists."""
    if _np is not None:
        return _np.frombuffer(data, dtype="<f8").reshape(shape).copy()
    numbers = array.array("d")
    numbers.frombytes(data)
    if not _LITTLE_ENDIAN:  # pragma: no cover
        numbers.byteswap()
    return _nest(list(numbers), shape)


def _nest(flat: list, shape: tuple):
    if len(shape) == 1:
        return flat
    size = len(flat) // shape[0]
    return [_nest(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def _array(value):
    return _np.asarray(value, dtype=float) if _np is not None else value


def _plain(value):
    """numpy arrays (and nested sequences of them) as lists, for JSON."""
    if _np is not None and isinstance(value, _np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(x) for x in value]
    return value


class Client:
    """One kept-alive connection to the service; not for use from several threads at once."""

    def __init__(self, url: str = "http://localhost:3000", api_key: str | None = None, timeout: float = 300.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https://, not {url!r}")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._connection = None

    # -- transport --------------------------------------------------------------------------------

    def _connect(self):
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """Sends a request; returns (status, headers, body bytes); raises ProblemError on an error status."""
        headers = {**self._headers, **(headers or {})}
        while True:
            reused = self._connection is not None
            if not reused:
                self._connection = self._connect()
            try:
                self._connection.request(method, self._prefix + path, body, headers)
                response = self._connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()
                self._connection = None
                # A kept-alive connection the service closed while idle: once more, on a new one.
                if not reused:
                    raise
        if response.status >= 400:
            try:
                problem = json.loads(data)
            except ValueError:
                problem = {"detail": data.decode("utf-8", "replace")}
            error = ProblemError(response.status, problem if isinstance(problem, dict) else {"detail": str(problem)})
            retry = response.getheader("retry-after")
            error.retry_after = float(retry) if retry else None
            raise error
        return response.status, response, data

    def _json(self, method: str, path: str, document=None) -> dict:
        body = None if document is None else json.dumps(document, allow_nan=False).encode()
        _, _, data = self.request(method, path, body, {"content-type": _JSON} if body is not None else {})
        return json.loads(data) if data else {}

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # -- models -----------------------------------------------------------------------------------

    @staticmethod
    def _document(W, b, w, mu, h, **options) -> dict:
        document = {"W": _plain(W), "b": _plain(b), "w": _plain(w), "mu": float(mu), "h": float(h)}
        names = {"input_dim": "inputDim", "input_scaling": "inputScaling", "output_scaling": "outputScaling"}
        for key, value in options.items():
            if value is not None:
                document[names.get(key, key)] = _plain(value)
        return document

    def create_model(self, W, b, w, mu, h, *, name=None, activation=None, output=None, input_dim=None, input_scaling=None, output_scaling=None) -> dict:
        """Registers a model from its arrays (W: K×d×d, b: K×d or K×d×1, w: d or d×1); its summary, with the id the server made."""
        return self._json("POST", "/models", self._document(W, b, w, mu, h, name=name, activation=activation, output=output, input_dim=input_dim, input_scaling=input_scaling, output_scaling=output_scaling))

    def put_model(self, model_id: str, W, b, w, mu, h, *, if_match: str | None = None, **options) -> dict:
        """A new version of the model named ``model_id`` (version 1 if it is new)."""
        body = json.dumps(self._document(W, b, w, mu, h, **options)).encode()
        headers = {"content-type": _JSON, **({"if-match": if_match} if if_match else {})}
        _, _, data = self.request("PUT", f"/models/{urllib.parse.quote(model_id, safe='')}", body, headers)
        return json.loads(data)

    def upload_model(self, path: str, model_id: str | None = None, **options) -> dict:
        """Registers a model from an .npz or .safetensors file; its options (h=, activation=, …) go in the query."""
        extension = os.path.splitext(path)[1].lower()
        if extension not in _WEIGHT_TYPES:
            raise ValueError(f"{path}: a weight file is .npz or .safetensors")
        with open(path, "rb") as file:
            data = file.read()
        query = urllib.parse.urlencode({key: json.dumps(value) if isinstance(value, (dict, list)) else value for key, value in options.items()})
        target = f"/models/{urllib.parse.quote(model_id, safe='')}" if model_id else "/models"
        _, _, answer = self.request("PUT" if model_id else "POST", f"{target}{'?' + query if query else ''}", data, {"content-type": _WEIGHT_TYPES[extension]})
        return json.loads(answer)

    def get_model(self, model_id: str, version: int | None = None) -> dict:
        path = f"/models/{urllib.parse.quote(model_id, safe='')}" + (f"/versions/{version}" if version else "")
        return self._json("GET", path)

    def list_models(self) -> list:
        return self._json("GET", "/models")["models"]

    def delete_model(self, model_id: str, version: int | None = None) -> None:
        path = f"/models/{urllib.parse.quote(model_id, safe='')}" + (f"/versions/{version}" if version else "")
        self.request("DELETE", path)

    # -- compute ----------------------------------------------------------------------------------

    def _compute(self, route: str, model_id: str, points, version: int | None, binary: bool | None, outputs: int):
        """Runs a compute route; the answer's arrays: values, then gradients, then Hessians (``outputs`` of them)."""
        use_binary = binary if binary is not None else _count(points) >= BINARY_THRESHOLD
        if use_binary:
            data, count, width = _float64_bytes(points)
            query = urllib.parse.urlencode({"modelId": model_id, **({"modelVersion": version} if version else {})})
            _, _, answer = self.request("POST", f"/{route}?{query}", data, {"content-type": _OCTET_STREAM, "accept": _OCTET_STREAM})
            shapes = [(count,), (count, width), (count, width, width)][:outputs]
            results, at = [], 0
            for shape in shapes:
                size = 8
                for n in shape:
                    size *= n
                results.append(_from_float64_bytes(answer[at : at + size], shape))
                at += size
            return results
        rows, _ = _rows(points)
        answer = self._json("POST", f"/{route}", {"modelId": model_id, "points": rows, **({"modelVersion": version} if version else {})})
        return [_array(answer[key]) for key in ("values", "gradients", "hessians")[:outputs]]

    def evaluate(self, model_id: str, points, *, version: int | None = None, binary: bool | None = None):
        """F at each point."""
        return self._compute("evaluate", model_id, points, version, binary, 1)[0]

    def gradient(self, model_id: str, points, *, version: int | None = None, binary: bool | None = None):
        """(values, gradients): F and ∇F at each point; raw float64s from BINARY_THRESHOLD points on, unless ``binary`` says."""
        values, gradients = self._compute("gradient", model_id, points, version, binary, 2)
        return values, gradients

    def hessian(self, model_id: str, points, *, version: int | None = None, binary: bool | None = None):
        """(values, gradients, hessians): F, ∇F and ∇²F (d₀×d₀) at each point."""
        values, gradients, hessians = self._compute("hessian", model_id, points, version, binary, 3)
        return values, gradients, hessians

    def flow(self, method: str, h: float, steps: int, initial, *, kinetic=None, potential=None, model=None, every: int | None = None) -> dict:
        """Integrates a Hamiltonian flow on the server (POST /flows): T(p) + V(q) from kinetic and potential, or H from model."""
        if model is not None:
            hamiltonian = {"model": model}
        elif kinetic is not None and potential is not None:
            hamiltonian = {"kinetic": kinetic, "potential": potential}
        else:
            raise ValueError("give kinetic and potential, or model")
        rows, _ = _rows(initial)
        answer = self._json("POST", "/flows", {"hamiltonian": hamiltonian, "method": method, "h": h, "steps": steps, "initial": rows, **({"every": every} if every else {})})
        for key in ("times", "states", "energy", "maxEnergyError"):
            answer[key] = _array(answer[key])
        return answer
