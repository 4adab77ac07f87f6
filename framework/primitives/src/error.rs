/// Errors of the primitive types: malformed bytes, bad identifiers, failed signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed encoding: {0}")]
    Decode(String),
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("invalid chain id {id:?}: {reason}")]
    ChainId { id: String, reason: &'static str },
    #[error("invalid hex for {what}: {reason}")]
    Hex { what: &'static str, reason: String },
    #[error("invalid public key: not a point on the ed25519 curve")]
    PublicKey,
    #[error("signature does not verify for {purpose} on chain {chain_id}")]
    BadSignature { chain_id: String, purpose: &'static str },
    #[error("invalid validator set: {0}")]
    ValidatorSet(String),
}
