"""A client of a cairn node's gRPC API (`cairn.node.v1.Node`): status, queries (with client-side verified Merkle
proofs), signed txs broadcast in commit mode, and event subscriptions."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import grpc

from . import stubs
from .keys import Keypair
from .proof import Proof, ProofError, key_hash, verify_proof
from .tx import (
    TRANSFER_FUEL,
    Execute,
    Message,
    Tx,
    TxBody,
    bank_balance_key,
    bank_balance_query,
    bank_transfer_msg,
    decode_u64,
    decode_u128,
)


class CairnError(Exception):
    """Something the node refused or could not do; the message carries the node's own words."""


class TxRejected(CairnError):
    """The node's admission check (CheckTx) refused the tx: it never entered the mempool."""

    def __init__(self, code: int, log: str, tx_hash: bytes):
        super().__init__(f"tx {tx_hash.hex()} rejected (code {code}): {log}")
        self.code, self.log, self.tx_hash = code, log, tx_hash


class TxFailed(CairnError):
    """The tx was finalized, but failed (its nonce is spent, its state changes are not applied)."""

    def __init__(self, code: int, log: str, tx_hash: bytes, height: int):
        super().__init__(f"tx {tx_hash.hex()} failed at height {height} (code {code}): {log}")
        self.code, self.log, self.tx_hash, self.height = code, log, tx_hash, height


class QueryFailed(CairnError):
    def __init__(self, path: str, code: int, log: str):
        super().__init__(f"query {path!r} failed (code {code}): {log}")
        self.path, self.code, self.log = path, code, log


@dataclass
class Committed:
    """A tx finalized successfully."""

    tx_hash: bytes
    height: int
    result: object  # cairn.app.v1.TxResult (code, log, data, gas_wanted, gas_used, events)


@dataclass
class Proven:
    """A state value proven against an app hash: `value` is None when the key is proven absent."""

    key: bytes
    value: Optional[bytes]
    height: int
    root: bytes
    proof: Proof


def _rpc(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except grpc.RpcError as e:
        raise CairnError(f"{what}: {e.code().name}: {e.details()}") from None


class Client:
    """A connection to one node's gRPC endpoint, e.g. `Client("127.0.0.1:26660")`."""

    def __init__(self, target: str, timeout: float = 60.0):
        self.node_pb2, node_grpc, self.app_pb2 = stubs.load()
        self.target = target
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self.stub = node_grpc.NodeStub(self.channel)
        self._chain_id: Optional[str] = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------------- reading

    def status(self):
        return _rpc(f"Status from {self.target}", self.stub.Status, self.node_pb2.StatusRequest(), timeout=self.timeout)

    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.status().chain_id
        return self._chain_id

    def query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False):
        """The node's Query; raises QueryFailed when the app answers a non-zero code."""
        req = self.node_pb2.QueryRequest(path=path, data=data, height=height, prove=prove)
        resp = _rpc(f"Query {path!r}", self.stub.Query, req, timeout=self.timeout)
        if resp.code != 0:
            raise QueryFailed(path, resp.code, resp.log)
        return resp

    def next_nonce(self, public_key: bytes) -> int:
        return decode_u64(self.query(f"nonce/{bytes(public_key).hex()}").value)

    def module_address(self, label: str) -> bytes:
        """The address of the module instance labelled `label` (e.g. "bank")."""
        v = self.query(f"label/{label}").value
        if len(v) != 32:
            raise CairnError(f"label/{label} answered {len(v)} bytes, expected a 32-byte address")
        return v

    def module_query(self, contract: bytes, msg: bytes) -> bytes:
        """A module's query (its borsh QueryMsg in, its borsh answer out), at the latest height. Not proven."""
        return self.query(f"module/{bytes(contract).hex()}", msg).value

    def bank_balance(self, account: bytes, bank: Optional[bytes] = None) -> int:
        """An account's bank balance through the bank's own query (unproven; see `proven_bank_balance`)."""
        bank = bank or self.module_address("bank")
        return decode_u128(self.module_query(bank, bank_balance_query(account)))

    def block(self, height: int = 0):
        return _rpc(
            f"GetBlock {height}", self.stub.GetBlock, self.node_pb2.GetBlockRequest(height=height), timeout=self.timeout
        )

    def get_tx(self, tx_hash: bytes):
        return _rpc("GetTx", self.stub.GetTx, self.node_pb2.GetTxRequest(hash=tx_hash), timeout=self.timeout)

    # --------------------------------------------------------------------------------------------------- proofs

    def proven_get(self, key: bytes, attempts: int = 20) -> Proven:
        """Reads a raw state key with a Merkle proof and verifies the proof here, against the app hash the node
        reports for the same height (Status). Raises ProofError if the proof does not hold.

        For a root that validators signed instead of the node's word, compare `Proven.root` with
        `header.app_hash` of block `height + 1` (see `signed_app_hash`)."""
        key = bytes(key)
        last = None
        for _ in range(attempts):
            st = self.status()
            height, root = st.height, bytes(st.app_hash)
            req = self.node_pb2.QueryRequest(path=f"store/{key.hex()}", height=height, prove=True)
            resp = _rpc("Query store/ (prove)", self.stub.Query, req, timeout=self.timeout)
            if resp.code != 0:
                # The status can run a moment ahead of the state store's commit: ask again.
                last = QueryFailed(f"store/{key.hex()}", resp.code, resp.log)
                time.sleep(0.1)
                continue
            if resp.height != height:
                raise CairnError(f"asked for height {height}, the node answered for {resp.height}")
            proof = Proof.from_bytes(resp.proof)
            present = proof.leaf is not None and proof.leaf.key_hash == key_hash(key)
            value = bytes(resp.value) if present else None
            if not present and resp.value:
                raise ProofError("the node returned a value but its proof shows the key absent")
            verify_proof(root, key, value, proof)
            return Proven(key, value, height, root, proof)
        raise last  # type: ignore[misc]

    def signed_app_hash(self, height: int, timeout: float = 30.0) -> bytes:
        """The app hash after `height` as block `height + 1`'s header carries it (waits for that block)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return bytes(self.block(height + 1).header.app_hash)
            except CairnError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def proven_bank_balance(self, account: bytes, bank: Optional[bytes] = None) -> Tuple[int, Proven]:
        """An account's bank balance read from state with a verified proof (0 when proven absent)."""
        bank = bank or self.module_address("bank")
        p = self.proven_get(bank_balance_key(bank, account))
        return (0 if p.value is None else decode_u128(p.value)), p

    # ---------------------------------------------------------------------------------------------------- txs

    def sign(
        self,
        key: Keypair,
        messages: Sequence[Message],
        fuel_limit: int = TRANSFER_FUEL,
        nonce: Optional[int] = None,
        price: int = 0,
    ) -> Tx:
        """A signed tx for this node's chain, at the sender's next nonce unless `nonce` is given, paying `price` per
        unit of fuel (0 suits fee-less chains; a chain with fees rejects a price under its minimum)."""
        if nonce is None:
            nonce = self.next_nonce(key.public_key)
        body = TxBody(self.chain_id(), key.public_key, nonce, fuel_limit, price, list(messages))
        return Tx.sign(body, key)

    def broadcast(self, tx_bytes: bytes, commit: bool = True):
        """BroadcastTx as is: the raw BroadcastTxResponse (check_code/log, and in commit mode height/result)."""
        mode = self.node_pb2.BROADCAST_MODE_COMMIT if commit else self.node_pb2.BROADCAST_MODE_SYNC
        req = self.node_pb2.BroadcastTxRequest(tx=bytes(tx_bytes), mode=mode)
        return _rpc("BroadcastTx", self.stub.BroadcastTx, req, timeout=self.timeout)

    def submit(self, tx: Tx) -> Committed:
        """Broadcasts in commit mode and waits until finalized. Raises TxRejected / TxFailed with the node's log."""
        raw = tx.to_bytes()
        resp = self.broadcast(raw, commit=True)
        h = bytes(resp.hash)
        if h != tx.hash():
            raise CairnError(f"the node hashed the tx to {h.hex()}, expected {tx.hash().hex()}")
        if resp.check_code != 0:
            raise TxRejected(resp.check_code, resp.log, h)
        if not resp.HasField("result"):
            raise CairnError(f"tx {h.hex()} accepted but the node returned no result")
        if resp.result.code != 0:
            raise TxFailed(resp.result.code, resp.result.log, h, resp.height)
        return Committed(h, resp.height, resp.result)

    def execute(
        self, key: Keypair, contract: bytes, msg: bytes, fuel_limit: int = TRANSFER_FUEL, nonce: Optional[int] = None
    ) -> Committed:
        """Calls a module's `execute` with `msg` (its borsh ExecuteMsg) and waits until finalized."""
        return self.submit(self.sign(key, [Execute(bytes(contract), bytes(msg))], fuel_limit, nonce))

    def transfer(
        self, key: Keypair, to: bytes, amount: int, bank: Optional[bytes] = None, nonce: Optional[int] = None
    ) -> Committed:
        """A bank transfer, finalized."""
        bank = bank or self.module_address("bank")
        return self.execute(key, bank, bank_transfer_msg(to, amount), TRANSFER_FUEL, nonce)

    # -------------------------------------------------------------------------------------------------- events

    def subscribe(self, kinds: Iterable[str] = ()) -> "Subscription":
        """Follows events of finalized blocks (all kinds if `kinds` is empty). Returns once the node has the
        subscription, so events of txs sent afterwards are not missed."""
        return Subscription(self, list(kinds))


@dataclass
class Event:
    height: int
    tx_hash: bytes
    tx_index: int
    kind: str
    attributes: dict


class Subscription:
    """An open SubscribeEvents stream, read by a background thread; iterate it or call `next(timeout)`."""

    def __init__(self, client: Client, kinds: List[str]):
        req = client.node_pb2.SubscribeEventsRequest(kinds=kinds)
        self._call = client.stub.SubscribeEvents(req)
        # The node answers headers once the subscription is registered.
        try:
            self._call.initial_metadata()
        except grpc.RpcError as e:
            raise CairnError(f"SubscribeEvents: {e.code().name}: {e.details()}") from None
        self._q: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for n in self._call:
                attrs = {a.key: a.value for a in n.event.attributes}
                self._q.put(Event(n.height, bytes(n.tx_hash), n.tx_index, n.event.kind, attrs))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self._q.put(CairnError(f"SubscribeEvents: {e.code().name}: {e.details()}"))
        self._q.put(None)

    def next(self, timeout: float = 30.0) -> Event:
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if item is None:
            raise CairnError("the event stream ended")
        if isinstance(item, Exception):
            raise item
        return item

    def wait_for(self, pred, timeout: float = 30.0) -> Event:
        """The first event for which `pred(event)` is true; TimeoutError if none arrives in time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event within {timeout} s")
            ev = self.next(left)
            if pred(ev):
                return ev

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                yield self.next(timeout=3600)
            except CairnError:
                return

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
