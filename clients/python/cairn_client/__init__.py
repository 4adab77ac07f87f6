"""A Python client for cairn chains: keys, signed txs (docs/TX_FORMAT.md), BroadcastTx in commit mode, event
subscriptions, and queries whose Merkle proofs are verified here.

    from cairn_client import Client, Keypair
    with Client("127.0.0.1:26660") as node:
        me = Keypair.from_secret_hex(SECRET)
        done = node.transfer(me, to=OTHER_ADDRESS, amount=5)
        balance, proof = node.proven_bank_balance(OTHER_ADDRESS)
"""

from .client import (
    CairnError,
    Client,
    Committed,
    Event,
    Proven,
    QueryFailed,
    Subscription,
    TxFailed,
    TxRejected,
)
from .keys import Keypair
from .proof import Proof, ProofError, verify_proof
from .tx import (
    Execute,
    Instantiate,
    Migrate,
    Tx,
    TxBody,
    Upload,
    bank_balance_key,
    bank_burn_msg,
    bank_transfer_msg,
    instance_address,
    signing_bytes,
)

__all__ = [
    "CairnError",
    "Client",
    "Committed",
    "Event",
    "Execute",
    "Instantiate",
    "Keypair",
    "Migrate",
    "Proof",
    "ProofError",
    "Proven",
    "QueryFailed",
    "Subscription",
    "Tx",
    "TxBody",
    "TxFailed",
    "TxRejected",
    "Upload",
    "bank_balance_key",
    "bank_burn_msg",
    "bank_transfer_msg",
    "instance_address",
    "signing_bytes",
    "verify_proof",
]
