"""The signed transaction envelope of docs/TX_FORMAT.md: borsh encoding, domain-separated signature, tx hash."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Union

from ._blake3 import blake3
from .keys import Keypair

#: Largest encoded tx a node accepts (4 MiB + 64 KiB).
MAX_TX_BYTES = 4 * 1024 * 1024 + 64 * 1024
#: Fuel a bank transfer may burn (what the `cairn` CLI uses; far above what the bank needs).
TRANSFER_FUEL = 5_000_000

_CHAIN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# ---------------------------------------------------------------------------------------------------------- borsh


def u8(n: int) -> bytes:
    return struct.pack("<B", n)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def u128(n: int) -> bytes:
    if not 0 <= n < 1 << 128:
        raise ValueError(f"{n} does not fit in a u128")
    return n.to_bytes(16, "little")


def byte_vec(b: bytes) -> bytes:
    """borsh `Vec<u8>`: u32 length ‖ bytes."""
    return u32(len(b)) + bytes(b)


def string(s: str) -> bytes:
    return byte_vec(s.encode("utf-8"))


def fixed32(b: bytes, what: str = "value") -> bytes:
    b = bytes(b)
    if len(b) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(b)}")
    return b


def option32(b: Optional[bytes], what: str = "value") -> bytes:
    return b"\x00" if b is None else b"\x01" + fixed32(b, what)


def blake3_parts(*parts: bytes) -> bytes:
    """blake3 of parts each preceded by its length as u64 LE (cairn's `Hash::digest_parts`)."""
    return blake3(b"".join(u64(len(p)) + bytes(p) for p in parts))


# ------------------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Upload:
    code: bytes

    def encode(self) -> bytes:
        return b"\x00" + byte_vec(self.code)


@dataclass(frozen=True)
class Instantiate:
    code_id: bytes
    label: str
    admin: Optional[bytes]
    msg: bytes

    def encode(self) -> bytes:
        return (
            b"\x01"
            + fixed32(self.code_id, "code id")
            + string(self.label)
            + option32(self.admin, "admin")
            + byte_vec(self.msg)
        )


@dataclass(frozen=True)
class Execute:
    contract: bytes
    msg: bytes

    def encode(self) -> bytes:
        return b"\x02" + fixed32(self.contract, "contract address") + byte_vec(self.msg)


@dataclass(frozen=True)
class Migrate:
    contract: bytes
    code_id: bytes
    msg: bytes

    def encode(self) -> bytes:
        return b"\x03" + fixed32(self.contract, "contract address") + fixed32(self.code_id, "code id") + byte_vec(self.msg)


Message = Union[Upload, Instantiate, Execute, Migrate]


# -------------------------------------------------------------------------------------------------------- envelope


def signing_bytes(chain_id: str, purpose: str, message: bytes) -> bytes:
    """What ed25519 signs: `cairn/v1`, chain id, purpose and message, each preceded by its length as u64 LE."""
    return b"".join(u64(len(p)) + p for p in (b"cairn/v1", chain_id.encode(), purpose.encode(), bytes(message)))


@dataclass
class TxBody:
    chain_id: str
    sender: bytes
    nonce: int
    fuel_limit: int
    #: Fee per unit of fuel in the smallest unit of the bank's denom (0 on fee-less chains); `fuel_limit * price`
    #: must be payable up front, only the fuel used is kept.
    price: int
    messages: List[Message] = field(default_factory=list)

    def encode(self) -> bytes:
        if not _CHAIN_ID.match(self.chain_id):
            raise ValueError(f"invalid chain id {self.chain_id!r}: 1-64 characters of [A-Za-z0-9._-]")
        if len(self.messages) > 64:
            raise ValueError(f"a tx carries at most 64 messages, not {len(self.messages)}")
        return (
            string(self.chain_id)
            + fixed32(self.sender, "sender public key")
            + u64(self.nonce)
            + u64(self.fuel_limit)
            + u128(self.price)
            + u32(len(self.messages))
            + b"".join(m.encode() for m in self.messages)
        )


@dataclass
class Tx:
    body: TxBody
    signature: bytes

    @staticmethod
    def sign(body: TxBody, key: Keypair) -> "Tx":
        if bytes(body.sender) != key.public_key:
            raise ValueError("the body's sender is not the signing key's public key")
        return Tx(body, key.sign(signing_bytes(body.chain_id, "tx", body.encode())))

    def to_bytes(self) -> bytes:
        if len(self.signature) != 64:
            raise ValueError(f"a signature is 64 bytes, got {len(self.signature)}")
        out = self.body.encode() + bytes(self.signature)
        if len(out) > MAX_TX_BYTES:
            raise ValueError(f"tx is {len(out)} bytes, over the limit of {MAX_TX_BYTES}")
        return out

    def hash(self) -> bytes:
        """blake3 of the encoded tx: the hash the node reports and indexes."""
        return blake3(self.to_bytes())


def tx_hash(tx_bytes: bytes) -> bytes:
    return blake3(bytes(tx_bytes))


def instance_address(code_id: bytes, creator: bytes, counter: int) -> bytes:
    """Address of a module instance: blake3_parts("instance", code id, creator, u64 counter)."""
    return blake3_parts(b"instance", fixed32(code_id, "code id"), fixed32(creator, "creator"), u64(counter))


def code_id(code: bytes) -> bytes:
    return blake3(bytes(code))


# ------------------------------------------------------------------------------------------------------------ bank


def bank_transfer_msg(to: bytes, amount: int) -> bytes:
    """The bank's `ExecuteMsg::Transfer { to, amount }`."""
    if amount <= 0:
        raise ValueError("a transfer amount must be positive")
    return b"\x00" + fixed32(to, "recipient address") + u128(amount)


def bank_burn_msg(amount: int) -> bytes:
    """The bank's `ExecuteMsg::Burn { amount }`."""
    return b"\x02" + u128(amount)


def bank_balance_query(account: bytes) -> bytes:
    """The bank's `QueryMsg::Balance { account }` (answer: u128)."""
    return b"\x00" + fixed32(account, "account address")


def bank_total_supply_query() -> bytes:
    """The bank's `QueryMsg::TotalSupply` (answer: u128)."""
    return b"\x01"


def bank_balance_key(bank: bytes, account: bytes) -> bytes:
    """The raw state key of an account's bank balance: `m ‖ bank ‖ u16 BE len("bal") ‖ "bal" ‖ account`."""
    return b"m" + fixed32(bank, "bank address") + struct.pack(">H", 3) + b"bal" + fixed32(account, "account address")


def decode_u128(b: bytes) -> int:
    if len(b) != 16:
        raise ValueError(f"expected a 16-byte u128, got {len(b)} bytes")
    return int.from_bytes(b, "little")


def decode_u64(b: bytes) -> int:
    if len(b) != 8:
        raise ValueError(f"expected an 8-byte u64, got {len(b)} bytes")
    return int.from_bytes(b, "little")
