"""ed25519 keys (PyNaCl) and addresses."""

from __future__ import annotations

import os
import struct

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ._blake3 import blake3


class Keypair:
    """An ed25519 signing key from a 32-byte seed (the secret key format of `cairn keys`)."""

    def __init__(self, seed: bytes):
        seed = bytes(seed)
        if len(seed) != 32:
            raise ValueError(f"an ed25519 seed is 32 bytes, got {len(seed)}")
        self._signing = SigningKey(seed)
        self.seed = seed

    @staticmethod
    def generate() -> "Keypair":
        return Keypair(os.urandom(32))

    @staticmethod
    def from_secret_hex(secret: str) -> "Keypair":
        """From the hex secret `cairn keys show --secret` prints."""
        try:
            return Keypair(bytes.fromhex(secret.strip()))
        except ValueError as e:
            raise ValueError(f"secret key must be 64 hex characters (32 bytes): {e}") from None

    @staticmethod
    def derived(label: str, index: int) -> "Keypair":
        """Deterministic key `index` of `label` (cairn's `Keypair::derived`): seed = blake3_parts(label, u64 index).

        Devnet user i of chain C is `Keypair.derived(f"{C}/user", i)`: public test keys, never for value."""
        label_b = label.encode()
        idx = struct.pack("<Q", index)
        return Keypair(blake3(struct.pack("<Q", len(label_b)) + label_b + struct.pack("<Q", 8) + idx))

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing.verify_key)

    @property
    def address(self) -> bytes:
        """An account's address is its public key's bytes."""
        return self.public_key

    def sign(self, message: bytes) -> bytes:
        """Plain ed25519 (RFC 8032) over `message`; callers pass domain-separated bytes (tx.signing_bytes)."""
        return self._signing.sign(bytes(message)).signature

    def __repr__(self) -> str:  # never the secret
        return f"Keypair(public_key={self.public_key.hex()[:16]}…)"


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(bytes(public_key)).verify(bytes(message), bytes(signature))
        return True
    except (BadSignatureError, ValueError):
        return False
