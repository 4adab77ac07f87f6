"""gRPC stubs of cairn's node API, generated from `proto/` with grpcio-tools at first use (never committed, so
they always match the protos of the checkout).

The proto directory is `$CAIRN_PROTO_DIR` if set, else the `proto/` directory of the cairn checkout this package
sits in (found by walking up from this file)."""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import threading

PROTOS = ("cairn/app/v1/app.proto", "cairn/node/v1/node.proto")
_lock = threading.Lock()
_loaded = None


def proto_root() -> str:
    env = os.environ.get("CAIRN_PROTO_DIR")
    if env:
        if not os.path.isfile(os.path.join(env, PROTOS[1])):
            raise RuntimeError(f"CAIRN_PROTO_DIR={env} has no {PROTOS[1]}")
        return env
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        cand = os.path.join(d, "proto")
        if os.path.isfile(os.path.join(cand, PROTOS[1])):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            raise RuntimeError(
                "cannot find cairn's proto/ directory above "
                f"{os.path.dirname(os.path.abspath(__file__))}; set CAIRN_PROTO_DIR to the proto/ directory of a "
                "cairn checkout"
            )
        d = parent


def load():
    """Generates the stubs into a temp dir (once per process) and returns `(node_pb2, node_pb2_grpc, app_pb2)`."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            from grpc_tools import protoc
        except ImportError as e:
            raise RuntimeError(
                "grpcio-tools is missing (pip install grpcio grpcio-tools PyNaCl, or `bash scripts/py-venv.sh` "
                "in a cairn checkout prints a python that has them)"
            ) from e
        root = proto_root()
        out = tempfile.mkdtemp(prefix="cairn-client-stubs-")
        atexit.register(shutil.rmtree, out, True)
        # protoc's bundled well-known types live inside grpc_tools.
        include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = ["grpc_tools.protoc", "-I", root, "-I", include, f"--python_out={out}", f"--grpc_python_out={out}"]
        rc = protoc.main(args + [os.path.join(root, p) for p in PROTOS])
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc} on {PROTOS} under {root}")
        sys.path.insert(0, out)
        node_pb2 = importlib.import_module("cairn.node.v1.node_pb2")
        node_pb2_grpc = importlib.import_module("cairn.node.v1.node_pb2_grpc")
        app_pb2 = importlib.import_module("cairn.app.v1.app_pb2")
        _loaded = (node_pb2, node_pb2_grpc, app_pb2)
        return _loaded
