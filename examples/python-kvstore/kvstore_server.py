#!/usr/bin/env python3
"""The cairn kvstore, in Python, as a gRPC server of `cairn.app.v1.Application`.

It follows the specification in examples/kvstore/README.md (transactions, codes, validator updates, app hash) so a
chain gets the same app hashes from it as from the Rust kvstore; `examples/kvstore/tests/python_server.rs` checks
that over 120 blocks.

    python kvstore_server.py --listen 127.0.0.1:26658     # port 0 picks a free port; the address is printed
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
from concurrent import futures

import grpc

import cairn_stubs
from blake3_pure import blake3

MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 65_536
MAX_TX_BYTES = MAX_KEY_BYTES + 1 + MAX_VALUE_BYTES
MAX_POWER = 1_000_000_000_000
VALIDATOR_PREFIX = b"val:"
HASH_TAG = b"cairn-kvstore/v1"

OK, MALFORMED, TOO_LARGE, REJECTED, NOT_FOUND, BAD_HEIGHT, UNKNOWN_PATH = 0, 1, 2, 3, 4, 5, 6

_HEX64 = re.compile(rb"[0-9a-fA-F]{64}")
_DIGITS = re.compile(rb"[0-9]{1,20}")


class TxError(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse(tx: bytes):
    """Returns ("set", key, value) or ("val", pubkey32, power); raises TxError. Check order is the spec's."""
    if not tx:
        raise TxError(MALFORMED, "empty tx")
    if len(tx) > MAX_TX_BYTES:
        raise TxError(TOO_LARGE, f"tx of {len(tx)} bytes exceeds the limit of {MAX_TX_BYTES} bytes")
    if tx.startswith(VALIDATOR_PREFIX):
        body = tx[len(VALIDATOR_PREFIX) :]
        if b"!" not in body:
            raise TxError(MALFORMED, "a validator tx must be val:<hex pubkey>!<power>; no '!' found")
        key_hex, power = body.split(b"!", 1)
        if not _HEX64.fullmatch(key_hex):
            raise TxError(MALFORMED, "validator public key must be exactly 64 hex characters")
        if not _DIGITS.fullmatch(power):
            raise TxError(MALFORMED, "validator power must be 1 to 20 decimal digits")
        p = int(power.decode("ascii"))
        if p > MAX_POWER:
            raise TxError(MALFORMED, f"validator power {p} exceeds the limit of {MAX_POWER}")
        return ("val", bytes.fromhex(key_hex.decode("ascii")), p)
    if b"=" not in tx:
        raise TxError(MALFORMED, "a tx must be key=value or val:<hex pubkey>!<power>; no '=' found")
    key, value = tx.split(b"=", 1)
    if not key:
        raise TxError(MALFORMED, "empty key")
    if len(key) > MAX_KEY_BYTES:
        raise TxError(TOO_LARGE, f"key of {len(key)} bytes exceeds the limit of {MAX_KEY_BYTES} bytes")
    if len(value) > MAX_VALUE_BYTES:
        raise TxError(TOO_LARGE, f"value of {len(value)} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes")
    return ("set", key, value)


class State:
    def __init__(self, height: int = 0, kv=None, validators=None):
        self.height = height
        self.kv: dict[bytes, bytes] = dict(kv or {})
        self.validators: dict[bytes, int] = dict(validators or {})

    def copy(self) -> "State":
        return State(self.height, self.kv, self.validators)

    def app_hash(self) -> bytes:
        parts = [HASH_TAG, self.height.to_bytes(8, "big"), len(self.kv).to_bytes(8, "big")]
        for key in sorted(self.kv):  # bytes sort byte-wise, shorter prefix first, like Rust's Vec<u8>
            value = self.kv[key]
            parts += [len(key).to_bytes(4, "big"), key, len(value).to_bytes(4, "big"), value]
        parts.append(len(self.validators).to_bytes(8, "big"))
        for pk in sorted(self.validators):
            parts += [pk, self.validators[pk].to_bytes(8, "big")]
        return blake3(b"".join(parts))

    def apply(self, parsed) -> None:
        if parsed[0] == "set":
            self.kv[parsed[1]] = parsed[2]
            return
        _, pk, power = parsed
        if power == 0:
            if pk not in self.validators:
                raise TxError(REJECTED, f"{pk.hex()} is not a validator")
            if len(self.validators) == 1:
                raise TxError(REJECTED, "cannot remove the last validator")
            del self.validators[pk]
        else:
            self.validators[pk] = power

    def validator_updates_since(self, before: "State"):
        out = []
        for pk in sorted(set(self.validators) | set(before.validators)):
            old, new = before.validators.get(pk, 0), self.validators.get(pk, 0)
            if old != new:
                out.append((pk, new))
        return out


def make_servicer(pb, pb_grpc):
    class KvStore(pb_grpc.ApplicationServicer):
        def __init__(self):
            self.lock = threading.Lock()
            self.initialized = False
            self.committed = State()
            self.pending: State | None = None

        def Info(self, request, context):
            with self.lock:
                return pb.InfoResponse(
                    data="kvstore (python)",
                    app_version=1,
                    last_height=self.committed.height,
                    last_app_hash=self.committed.app_hash(),
                )

        def InitChain(self, request, context):
            if not request.chain_id:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "InitChainRequest.chain_id: missing (required)")
            with self.lock:
                if self.initialized:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "InitChain called on an initialized kvstore")
                state = State(height=max(request.initial_height, 1) - 1)
                for v in request.validators:
                    if len(v.public_key) != 32:
                        context.abort(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            f"InitChainRequest.validators.public_key: expected 32 bytes, got {len(v.public_key)}",
                        )
                    if v.power > 0:
                        state.validators[bytes(v.public_key)] = v.power
                self.committed = state
                self.initialized = True
                return pb.InitChainResponse(app_hash=state.app_hash())

        def CheckTx(self, request, context):
            try:
                parse(request.tx)
            except TxError as e:
                return pb.CheckTxResponse(code=e.code, log=e.reason)
            return pb.CheckTxResponse(code=OK, gas_wanted=len(request.tx))

        def PrepareProposal(self, request, context):
            budget, txs = request.max_tx_bytes, []
            for tx in request.txs:
                try:
                    parse(tx)
                except TxError:
                    continue
                if len(tx) > budget:
                    break
                budget -= len(tx)
                txs.append(tx)
            return pb.PrepareProposalResponse(txs=txs)

        def ProcessProposal(self, request, context):
            for tx in request.txs:
                try:
                    parse(tx)
                except TxError:
                    return pb.ProcessProposalResponse(status=pb.PROPOSAL_STATUS_REJECT)
            return pb.ProcessProposalResponse(status=pb.PROPOSAL_STATUS_ACCEPT)

        def FinalizeBlock(self, request, context):
            if len(request.hash) != 32:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"FinalizeBlockRequest.hash: expected 32 bytes, got {len(request.hash)}",
                )
            with self.lock:
                if not self.initialized:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "FinalizeBlock before InitChain")
                if self.pending is not None:
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"FinalizeBlock at height {request.height} while block {self.pending.height} awaits Commit",
                    )
                expected = self.committed.height + 1
                if request.height != expected:
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"FinalizeBlock at height {request.height}, expected {expected}",
                    )
                before = self.committed
                state = before.copy()
                state.height = request.height
                results = []
                for tx in request.txs:
                    try:
                        state.apply(parse(tx))
                        results.append(pb.TxResult(code=OK, gas_wanted=len(tx), gas_used=len(tx)))
                    except TxError as e:
                        results.append(pb.TxResult(code=e.code, log=e.reason, gas_wanted=len(tx)))
                updates = [pb.Validator(public_key=pk, power=p) for pk, p in state.validator_updates_since(before)]
                self.pending = state
                # The consensus facts a block brings: who signed the previous block (absent when there is no
                # quorum certificate to report) and verified misbehaviour. An app with stake slashes and counts
                # misses from them; the kvstore only reports them, as the Rust kvstore does.
                attrs = [pb.EventAttribute(key="height", value=str(request.height))]
                if request.HasField("decided_last_commit"):
                    signers = str(len(request.decided_last_commit.signers))
                    attrs.append(pb.EventAttribute(key="last_commit_signers", value=signers))
                if request.misbehavior:
                    attrs.append(pb.EventAttribute(key="misbehavior", value=str(len(request.misbehavior))))
                return pb.FinalizeBlockResponse(
                    events=[pb.Event(kind="kv.block", attributes=attrs)],
                    tx_results=results,
                    validator_updates=updates,
                    app_hash=state.app_hash(),
                )

        def Commit(self, request, context):
            with self.lock:
                if self.pending is None:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "Commit without a finalized block")
                self.committed, self.pending = self.pending, None
                return pb.CommitResponse(retain_height=0)

        def Query(self, request, context):
            with self.lock:
                state = self.committed
                resp = pb.QueryResponse(key=request.data, height=state.height)
                if request.height not in (0, state.height):
                    resp.code = BAD_HEIGHT
                    resp.log = f"only the latest height ({state.height}) is kept, asked for {request.height}"
                elif request.path in ("/store", "store"):
                    if request.data in state.kv:
                        resp.value, resp.log = state.kv[request.data], "exists"
                    else:
                        resp.code, resp.log = NOT_FOUND, "key not found"
                elif request.path in ("/validator", "validator"):
                    if request.data in state.validators:
                        resp.value, resp.log = str(state.validators[request.data]).encode(), "exists"
                    else:
                        resp.code = NOT_FOUND
                        resp.log = "not a validator (data must be the 32-byte public key)"
                else:
                    resp.code = UNKNOWN_PATH
                    resp.log = f"unknown query path {request.path!r}; use /store or /validator"
                return resp

        def ListSnapshots(self, request, context):
            return pb.ListSnapshotsResponse()

        def OfferSnapshot(self, request, context):
            return pb.OfferSnapshotResponse(result=pb.OFFER_SNAPSHOT_RESULT_REJECT)

        def LoadSnapshotChunk(self, request, context):
            return pb.LoadSnapshotChunkResponse()

        def ApplySnapshotChunk(self, request, context):
            return pb.ApplySnapshotChunkResponse(result=pb.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT)

        def Echo(self, request, context):
            return pb.EchoResponse(message=request.message)

    return KvStore()


def serve(listen: str, max_message_bytes: int = 4 * 1024 * 1024, gen_dir: str | None = None):
    """Starts the server; returns (server, bound address). The caller waits on `server`."""
    pb, pb_grpc = cairn_stubs.load(gen_dir)
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    pb_grpc.add_ApplicationServicer_to_server(make_servicer(pb, pb_grpc), server)
    host, _, port = listen.rpartition(":")
    bound = server.add_insecure_port(listen)
    if bound == 0:
        raise SystemExit(f"cannot listen on {listen}")
    server.start()
    return server, f"{host}:{bound}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:26658", help="host:port; port 0 picks a free port")
    ap.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--gen", default=None, help="directory for the generated stubs (default: a temp dir)")
    args = ap.parse_args(argv)
    server, addr = serve(args.listen, args.max_message_bytes, args.gen)
    # Tests read this line to learn the port.
    print(f"kvstore listening on {addr}", flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
