"""Generates Python gRPC stubs from cairn's .proto files (with grpcio-tools) and imports them.

Stubs are generated at run time, never committed, so they always match `proto/` at the repository root.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_ROOT = os.path.join(REPO_ROOT, "proto")
PROTOS = ("cairn/app/v1/app.proto", "cairn/node/v1/node.proto")


def generate(out_dir: str | None = None) -> str:
    """Runs protoc (bundled in grpcio-tools) on cairn's protos into `out_dir` (a new temp dir by default)."""
    try:
        from grpc_tools import protoc
    except ImportError as e:  # pragma: no cover - environment problem, reported clearly
        raise SystemExit(
            "grpcio-tools is missing: python3 -m venv .venv && .venv/bin/pip install grpcio grpcio-tools pytest"
        ) from e
    if out_dir is None:
        out_dir = tempfile.mkdtemp(prefix="cairn-stubs-")
        atexit.register(shutil.rmtree, out_dir, True)
    os.makedirs(out_dir, exist_ok=True)
    args = ["grpc_tools.protoc", "-I", PROTO_ROOT, f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    rc = protoc.main(args + [os.path.join(PROTO_ROOT, p) for p in PROTOS])
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc} on {PROTOS} under {PROTO_ROOT}")
    return out_dir


def load(out_dir: str | None = None):
    """Generates the stubs and returns the modules `(app_pb2, app_pb2_grpc)` of package cairn.app.v1."""
    out_dir = generate(out_dir)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    app_pb2 = importlib.import_module("cairn.app.v1.app_pb2")
    app_pb2_grpc = importlib.import_module("cairn.app.v1.app_pb2_grpc")
    return app_pb2, app_pb2_grpc
