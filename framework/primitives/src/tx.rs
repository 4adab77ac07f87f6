//! The signed transaction envelope of cairn chains that run Wasm modules (`ExecApp`).
//!
//! The consensus layer treats txs as opaque bytes; this envelope is what the execution host, the mempool's
//! CheckTx and the CLI agree on.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::sigcheck::{self, Signed};
use crate::{Address, ChainId, Error, Hash, Keypair, PublicKey, Purpose, Signature, hash_of};

/// Upper bound on an encoded tx. Large enough for a module upload (modules are capped at 4 MiB).
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024 + 64 * 1024;

/// One action inside a tx. A tx's messages run in order and atomically: all or none.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum Message {
    /// Store Wasm code; its code id is `blake3(code)`.
    Upload { code: Vec<u8> },
    /// Create a module instance from stored code, running its `instantiate` entry point with `msg`.
    Instantiate { code_id: Hash, label: String, admin: Option<Address>, msg: Vec<u8> },
    /// Call a module instance's `execute` entry point.
    Execute { contract: Address, msg: Vec<u8> },
    /// Switch an instance to new code and run the new code's `migrate` (admin only).
    Migrate { contract: Address, code_id: Hash, msg: Vec<u8> },
}

/// What the sender signs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxBody {
    pub chain_id: ChainId,
    pub sender: PublicKey,
    /// Must equal the sender's next expected nonce: rejects replays and orders a sender's txs.
    pub nonce: u64,
    /// Most fuel this tx may burn; running out fails the tx, not the block.
    pub fuel_limit: u64,
    /// What the sender pays per unit of fuel, in the smallest unit of the chain's fee token (the bank module's
    /// denom). `fuel_limit × price` must be payable up front; only the fuel used is kept. 0 on fee-less chains.
    pub price: u128,
    pub messages: Vec<Message>,
}

/// A signed tx.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Tx {
    pub body: TxBody,
    pub signature: Signature,
}

impl Tx {
    pub fn sign(body: TxBody, key: &Keypair) -> Tx {
        let signature = key.sign(&body.chain_id, Purpose::Tx, &crate::encode(&body));
        Tx { body, signature }
    }

    /// Checks the signature against the body's sender and chain id under the tx rule of [`crate::sigcheck`]
    /// (cofactored; weak keys refused), the verdict [`Tx::verify_all`] gives in a batch.
    pub fn verify(&self) -> Result<(), Error> {
        let body = crate::encode(&self.body);
        sigcheck::verify_one(&self.signed(&body))
    }

    /// [`Tx::verify`] for many txs at about half the cost per signature (one multiscalar multiplication).
    pub fn verify_all(txs: &[&Tx]) -> Vec<Result<(), Error>> {
        let bodies: Vec<Vec<u8>> = txs.iter().map(|t| crate::encode(&t.body)).collect();
        let items: Vec<Signed<'_>> = txs.iter().zip(&bodies).map(|(t, body)| t.signed(body)).collect();
        sigcheck::verify_batch(&items)
    }

    fn signed<'a>(&'a self, body: &'a [u8]) -> Signed<'a> {
        Signed {
            key: &self.body.sender,
            chain_id: &self.body.chain_id,
            purpose: Purpose::Tx,
            message: body,
            signature: &self.signature,
        }
    }

    pub fn hash(&self) -> Hash {
        hash_of(self)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Decodes a tx, refusing anything over [`MAX_TX_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Tx, Error> {
        crate::decode(bytes, MAX_TX_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity point: a small-order key for which the all-identity signature (R = identity, s = 0) passes
    /// the cofactorless check of plain `verify` for every message.
    fn weak_tx() -> Tx {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let body = TxBody {
            chain_id: ChainId::new("strict-test").expect("chain id"),
            sender: PublicKey(identity),
            nonce: 0,
            fuel_limit: 1,
            price: 0,
            messages: vec![],
        };
        Tx { body, signature: Signature(sig) }
    }

    #[test]
    fn a_small_order_key_cannot_send_txs() {
        let tx = weak_tx();
        // The forgery is real: the non-strict check accepts it.
        let non_strict =
            tx.body.sender.verify(&tx.body.chain_id, Purpose::Tx, &crate::encode(&tx.body), &tx.signature);
        assert!(non_strict.is_ok(), "the weak-key forgery should pass plain verify");
        assert!(tx.verify().is_err(), "txs must be verified strictly");
        assert!(Tx::verify_all(&[&tx]).iter().all(Result::is_err), "alone in a batch too");
    }

    #[test]
    fn an_honest_tx_verifies_strictly() {
        let key = crate::Keypair::derived("strict-test", 1);
        let body = TxBody {
            chain_id: ChainId::new("strict-test").expect("chain id"),
            sender: key.public(),
            nonce: 3,
            fuel_limit: 10,
            price: 0,
            messages: vec![],
        };
        let tx = Tx::sign(body, &key);
        assert!(tx.verify().is_ok());
        let mut forged = tx.clone();
        forged.body.nonce = 4;
        let verdicts = Tx::verify_all(&[&tx, &forged, &tx]);
        assert_eq!(verdicts.iter().map(Result::is_ok).collect::<Vec<_>>(), vec![true, false, true]);
    }
}
