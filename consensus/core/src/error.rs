/// Why a certificate or a piece of evidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("certificate has no signers")]
    EmptyCertificate,
    #[error("certificate lists {count} signers, more than the limit of {max}")]
    TooManySigners { count: usize, max: usize },
    #[error("certificate signer indices must be strictly increasing (index {index} out of order)")]
    UnsortedSigners { index: u32 },
    #[error("certificate signer index {index} is outside the validator set of {len}")]
    UnknownSigner { index: u32, len: usize },
    #[error("signature of validator {signer} does not verify")]
    BadSignature { signer: String },
    #[error("signers hold weight {weight} of {total}: not more than two thirds")]
    NoQuorum { weight: u64, total: u64 },
    #[error("notarize votes hold weight {weight} of {total}: a fast finalization needs all of it")]
    NotUnanimous { weight: u64, total: u64 },
    #[error("a {0:?} certificate proves no finality")]
    NotFinality(crate::VoteKind),
    #[error("malformed nullification claims: {0}")]
    BadClaims(&'static str),
    #[error("evidence votes are not for the same kind, height and view")]
    DifferentSlots,
    #[error("evidence votes are for the same block: no equivocation")]
    SameBlock,
    #[error("evidence is of kind {0:?}, which has no conflicting variant")]
    NotEquivocable(crate::VoteKind),
}
