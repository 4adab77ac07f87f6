"""A Python grpcio client drives the Rust kvstore server (`target/debug/kvstore`) through the app boundary.

Stubs are generated from proto/ at test time. Every app hash the Rust server returns is recomputed with the Python
implementation of the spec, so this also checks that both sides agree on the hash.
"""

import os
import subprocess

import grpc
import pytest

import cairn_stubs
from kvstore_server import State

REPO_ROOT = cairn_stubs.REPO_ROOT
PK1 = bytes(range(32))
PK2 = bytes([0xAB] * 32)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return cairn_stubs.load(str(tmp_path_factory.mktemp("gen")))


@pytest.fixture(scope="module")
def server_addr():
    binary = os.environ.get("KVSTORE_BIN")
    if not binary:  # run by hand: build it (under `cargo test` the Rust test passes the binary it built)
        build = subprocess.run(
            ["cargo", "build", "-p", "kvstore"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800
        )
        assert build.returncode == 0, f"cargo build -p kvstore failed:\n{build.stderr[-4000:]}"
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO_ROOT, "target"))
        binary = os.path.join(target, "debug", "kvstore")
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("kvstore listening on "), f"unexpected first line {line!r}; stderr: {proc.stderr.read()}"
        yield line.rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def app(stubs, server_addr):
    _, pb_grpc = stubs
    channel = grpc.insecure_channel(server_addr)
    grpc.channel_ready_future(channel).result(timeout=30)
    yield pb_grpc.ApplicationStub(channel)
    channel.close()


def test_block_lifecycle(stubs, app):
    pb, _ = stubs
    expected = State(0, {}, {PK1: 10})

    init = app.InitChain(
        pb.InitChainRequest(
            chain_id="py-client",
            initial_height=1,
            consensus_params=pb.ConsensusParams(max_block_bytes=1 << 20, max_block_txs=100, engine=pb.ENGINE_BFT),
            validators=[pb.Validator(public_key=PK1, power=10)],
        ),
        timeout=10,
    )
    assert init.app_hash == expected.app_hash()

    good = app.CheckTx(pb.CheckTxRequest(tx=b"name=cairn"), timeout=10)
    assert good.code == 0, good.log
    for garbage, code, why in [
        (b"garbage without equals", 1, "no '=' found"),
        (b"=value", 1, "empty key"),
        (b"val:zz!1", 1, "64 hex characters"),
        (b"val:" + PK2.hex().encode() + b"!-5", 1, "decimal digits"),
        (b"k" * 300 + b"=v", 2, "exceeds the limit of 256 bytes"),
        (b"", 1, "empty tx"),
    ]:
        resp = app.CheckTx(pb.CheckTxRequest(tx=garbage), timeout=10)
        assert resp.code == code, (garbage[:40], resp)
        assert why in resp.log, (garbage[:40], resp.log)

    txs = [b"name=cairn", b"garbage", b"val:" + PK2.hex().encode() + b"!5", b"color=blue", b"name=CAIRN"]
    fin = app.FinalizeBlock(
        pb.FinalizeBlockRequest(txs=txs, hash=bytes([7] * 32), height=1, time_ms=1, proposer=PK1), timeout=10
    )
    assert [r.code for r in fin.tx_results] == [0, 1, 0, 0, 0]
    assert "no '=' found" in fin.tx_results[1].log
    assert [(v.public_key, v.power) for v in fin.validator_updates] == [(PK2, 5)]
    expected.height = 1
    expected.kv = {b"name": b"CAIRN", b"color": b"blue"}
    expected.validators[PK2] = 5
    assert fin.app_hash == expected.app_hash()

    app.Commit(pb.CommitRequest(), timeout=10)

    q = app.Query(pb.QueryRequest(path="/store", data=b"name"), timeout=10)
    assert (q.code, q.value, q.height) == (0, b"CAIRN", 1)
    q = app.Query(pb.QueryRequest(path="/store", data=b"missing"), timeout=10)
    assert q.code == 4
    q = app.Query(pb.QueryRequest(path="/validator", data=PK2), timeout=10)
    assert (q.code, q.value) == (0, b"5")

    info = app.Info(pb.InfoRequest(), timeout=10)
    assert (info.last_height, info.last_app_hash) == (1, expected.app_hash())

    # A block at the wrong height is refused, not applied.
    with pytest.raises(grpc.RpcError) as err:
        app.FinalizeBlock(pb.FinalizeBlockRequest(hash=bytes(32), height=5, proposer=PK1), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expected 2" in err.value.details()


def test_missing_field_is_invalid_argument_naming_it(stubs, app):
    pb, _ = stubs
    with pytest.raises(grpc.RpcError) as err:
        app.FinalizeBlock(pb.FinalizeBlockRequest(height=2, proposer=PK1), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "FinalizeBlockRequest.hash: missing (expected 32 bytes)"
    with pytest.raises(grpc.RpcError) as err:
        app.InitChain(pb.InitChainRequest(chain_id="x"), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "InitChainRequest.consensus_params: missing (required)"


def test_oversized_request_is_resource_exhausted(stubs, app):
    pb, _ = stubs
    with pytest.raises(grpc.RpcError) as err:
        app.CheckTx(pb.CheckTxRequest(tx=b"k=" + b"v" * (5 * 1024 * 1024)), timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit of 4194304 bytes" in err.value.details()


def test_echo(stubs, app):
    pb, _ = stubs
    assert app.Echo(pb.EchoRequest(message="hi"), timeout=10).message == "hi"
