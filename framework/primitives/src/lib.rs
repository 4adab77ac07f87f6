#![doc = include_str!("../README.md")]

mod block;
mod chain;
mod crypto;
mod error;
mod hash;
pub mod sigcheck;
mod tx;
mod validator;

pub use block::{Block, Header, merkle_root};
pub use chain::{Address, ChainId, Height};
pub use crypto::{Keypair, PublicKey, Purpose, Signature};
pub use error::Error;
pub use hash::{Hash, hash_of};
pub use tx::{MAX_TX_BYTES, Message, Tx, TxBody};
pub use validator::{Validator, ValidatorSet};

/// Encodes a value canonically (borsh). Infallible for the in-memory types of this crate.
pub fn encode<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail; borsh only errors on IO.
    borsh::to_vec(value).unwrap_or_default()
}

/// Decodes canonical bytes, rejecting trailing bytes and anything longer than `max_len`
/// (checked before any allocation the input could drive).
pub fn decode<T: borsh::BorshDeserialize>(bytes: &[u8], max_len: usize) -> Result<T, Error> {
    if bytes.len() > max_len {
        return Err(Error::TooLarge { len: bytes.len(), max: max_len });
    }
    borsh::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))
}
