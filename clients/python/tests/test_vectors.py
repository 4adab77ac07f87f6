"""The test vectors of docs/TX_FORMAT.md, rebuilt by this client (the Rust side checks the same vectors in
framework/primitives/tests/tx_vectors.rs), and the proof verifier on hand-made trees. No node needed."""

from __future__ import annotations

import os

import pytest

from cairn_client import proof as P
from cairn_client.keys import Keypair, verify
from cairn_client.tx import (
    Execute,
    Tx,
    TxBody,
    bank_transfer_msg,
    code_id,
    instance_address,
    signing_bytes,
)

from conftest import REPO_ROOT

DOC = os.path.join(REPO_ROOT, "docs", "TX_FORMAT.md")


def vectors():
    out, cur = [], None
    with open(DOC, encoding="utf-8") as f:
        for line in f:
            t = line.strip()
            if cur is None:
                if t == "```vector":
                    cur = {}
            elif t == "```":
                out.append(cur)
                cur = None
            elif t and not t.startswith("#"):
                k, v = t.split("=", 1)
                cur[k.strip()] = v.strip()
    assert cur is None, "unclosed ```vector block"
    return out


VECTORS = vectors()


def test_the_document_has_every_kind_of_vector():
    assert {v["kind"] for v in VECTORS} >= {"key", "instance_address", "transfer", "execute"}


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(v):
    kind = v["kind"]
    if kind == "key":
        k = Keypair.derived(v["derive_label"], int(v["derive_index"]))
        assert k.seed.hex() == v["seed"]
        assert k.public_key.hex() == v["public_key"]
        assert k.address.hex() == v["address"]
    elif kind == "instance_address":
        cid = code_id(bytes.fromhex(v["code"]))
        assert cid.hex() == v["code_id"]
        addr = instance_address(cid, bytes.fromhex(v["creator"]), int(v["counter"]))
        assert addr.hex() == v["address"]
    elif kind in ("transfer", "execute"):
        key = Keypair(bytes.fromhex(v["seed"]))
        assert key.public_key.hex() == v["public_key"]
        if kind == "transfer":
            msg = bank_transfer_msg(bytes.fromhex(v["to"]), int(v["amount"]))
            assert msg.hex() == v["msg"]
        else:
            msg = bytes.fromhex(v["msg"])
        body = TxBody(v["chain_id"], key.public_key, int(v["nonce"]), int(v["fuel_limit"]),
                      int(v["price"]), [Execute(bytes.fromhex(v["contract"]), msg)])
        assert body.encode().hex() == v["body"]
        sb = signing_bytes(v["chain_id"], "tx", body.encode())
        assert sb.hex() == v["signing_bytes"]
        tx = Tx.sign(body, key)
        assert tx.signature.hex() == v["signature"]
        assert verify(key.public_key, sb, tx.signature)
        assert tx.to_bytes().hex() == v["tx"]
        assert tx.hash().hex() == v["tx_hash"]
        # The signature is bound to the chain and the purpose.
        assert not verify(key.public_key, signing_bytes(v["chain_id"] + "x", "tx", body.encode()), tx.signature)
        assert not verify(key.public_key, signing_bytes(v["chain_id"], "vote", body.encode()), tx.signature)
    else:
        pytest.fail(f"unknown vector kind {kind!r}")


def _two_leaf_tree():
    """Keys whose paths differ in bit 0, so the tree is one internal node over two leaves."""
    keys = [b"k%d" % i for i in range(64)]
    a = next(k for k in keys if P.key_hash(k)[0] >> 7 == 0)
    b = next(k for k in keys if P.key_hash(k)[0] >> 7 == 1)
    la = P.leaf_hash(P.key_hash(a), P.value_hash(b"va"))
    lb = P.leaf_hash(P.key_hash(b), P.value_hash(b"vb"))
    return a, b, la, lb, P.internal_hash(la, lb)


def test_proof_verifier_on_a_two_leaf_tree():
    a, b, la, lb, root = _two_leaf_tree()
    pa = P.Proof([lb], P.ProofLeaf(P.key_hash(a), P.value_hash(b"va")))
    P.verify_proof(root, a, b"va", pa)
    with pytest.raises(P.ProofError, match="value mismatch"):
        P.verify_proof(root, a, b"vA", pa)
    with pytest.raises(P.ProofError, match="root mismatch"):
        P.verify_proof(bytes(32), a, b"va", pa)
    with pytest.raises(P.ProofError, match="claimed absent"):
        P.verify_proof(root, a, None, pa)
    # Round trip through the borsh encoding the node sends.
    raw = len(pa.siblings).to_bytes(4, "little") + b"".join(pa.siblings) + b"\x01" + pa.leaf.key_hash + pa.leaf.value_hash
    assert P.Proof.from_bytes(raw) == pa
    with pytest.raises(P.ProofError, match="trailing"):
        P.Proof.from_bytes(raw + b"\x00")
