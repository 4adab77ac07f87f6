"""Sparse Merkle proofs of cairn state: a port of `execution/state/src/proof.rs` (`verify_proof`) and the hashing
of `execution/state/src/tree.rs`. See docs/TX_FORMAT.md section 8."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import List, Optional

from ._blake3 import blake3

MAX_DEPTH = 256
ZERO = bytes(32)
MAX_PROOF_BYTES = 4 + MAX_DEPTH * 32 + 1 + 64


class ProofError(Exception):
    """A proof that does not show what was claimed (or does not decode)."""


def key_hash(key: bytes) -> bytes:
    return blake3(bytes(key))


def value_hash(value: bytes) -> bytes:
    return blake3(bytes(value))


def leaf_hash(kh: bytes, vh: bytes) -> bytes:
    return blake3(b"\x00" + kh + vh)


def internal_hash(left: bytes, right: bytes) -> bytes:
    return blake3(b"\x01" + left + right)


def _bit(h: bytes, i: int) -> int:
    return (h[i // 8] >> (7 - (i % 8))) & 1 if i // 8 < len(h) else 0


def _common_prefix_bits(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        d = x ^ y
        if d:
            return i * 8 + (8 - d.bit_length())
    return MAX_DEPTH


@dataclass
class ProofLeaf:
    key_hash: bytes
    value_hash: bytes


@dataclass
class Proof:
    siblings: List[bytes]
    leaf: Optional[ProofLeaf]

    @staticmethod
    def from_bytes(b: bytes) -> "Proof":
        """Borsh `{ siblings: Vec<[u8; 32]>, leaf: Option<(key_hash, value_hash)> }`, strictly (no trailing bytes)."""
        b = bytes(b)
        if len(b) > MAX_PROOF_BYTES:
            raise ProofError(f"proof of {len(b)} bytes exceeds the maximum of {MAX_PROOF_BYTES}")
        if len(b) < 5:
            raise ProofError(f"proof of {len(b)} bytes is too short (an empty proof: the node was asked without prove?)")
        (n,) = struct.unpack_from("<I", b, 0)
        if n > MAX_DEPTH:
            raise ProofError(f"proof has {n} siblings, max {MAX_DEPTH}")
        pos = 4
        if len(b) < pos + 32 * n + 1:
            raise ProofError("proof is truncated")
        siblings = [b[pos + 32 * i : pos + 32 * (i + 1)] for i in range(n)]
        pos += 32 * n
        tag = b[pos]
        pos += 1
        if tag == 0:
            leaf = None
        elif tag == 1:
            if len(b) < pos + 64:
                raise ProofError("proof leaf is truncated")
            leaf = ProofLeaf(b[pos : pos + 32], b[pos + 32 : pos + 64])
            pos += 64
        else:
            raise ProofError(f"bad option tag {tag} for the proof's leaf")
        if pos != len(b):
            raise ProofError(f"{len(b) - pos} trailing bytes after the proof")
        return Proof(siblings, leaf)


def verify_proof(root: bytes, key: bytes, value: Optional[bytes], proof: Proof) -> None:
    """Checks that in the tree with root `root`, `key` maps to `value` (None: the key is absent).

    Raises ProofError saying what is wrong; returns None when the proof holds."""
    root = bytes(root)
    if len(root) != 32:
        raise ProofError(f"a root is 32 bytes, got {len(root)}")
    depth = len(proof.siblings)
    if depth > MAX_DEPTH:
        raise ProofError(f"proof is {depth} levels deep, max {MAX_DEPTH}")
    kh = key_hash(key)
    acc = leaf_hash(proof.leaf.key_hash, proof.leaf.value_hash) if proof.leaf is not None else ZERO
    for i in range(depth - 1, -1, -1):
        sibling = proof.siblings[i]
        acc = internal_hash(acc, sibling) if _bit(kh, i) == 0 else internal_hash(sibling, acc)
    if acc != root:
        raise ProofError(f"root mismatch: the proof computes {acc.hex()}, expected {root.hex()}")
    leaf = proof.leaf
    if leaf is not None and leaf.key_hash != kh and _common_prefix_bits(leaf.key_hash, kh) < depth:
        raise ProofError("the proof's leaf is not on the key's path")
    if leaf is not None and leaf.key_hash == kh:
        if value is None:
            raise ProofError("the key is present, but was claimed absent")
        if leaf.value_hash != value_hash(value):
            raise ProofError("value mismatch: the proven value hash is not the hash of the value given")
        return
    if value is not None:
        raise ProofError("the key is absent, but a value was claimed")
