//! The engine's messages (borsh). Polls and answers are 45–50 bytes: they are almost all of the traffic.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cairn_consensus::{Certificate, MAX_MESSAGE_BYTES, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Signature};

use crate::Error;

/// Most headers in one `Headers` reply (catch-up moves at most this many heights per round trip).
pub const MAX_HEADERS: usize = 32;
/// Most bytes a snow message may have: the largest is a fallback certificate of up to 10,000 signers.
pub const MAX_SNOW_MESSAGE_BYTES: usize = MAX_MESSAGE_BYTES;

/// A proposed block: the payload id the driver built, its parent, and the proposer's signature over both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Header {
    pub height: Height,
    pub parent: Hash,
    pub block: Hash,
    /// Index of the proposer in the validator set of `height`.
    pub proposer: u32,
    pub signature: Signature,
}

impl Header {
    /// The signed statement: a `Propose` vote for `blake3(block ‖ parent)`, so a proposer that signs two
    /// different blocks (or one block under two parents) at a height produces `Evidence`.
    pub fn statement(height: Height, parent: &Hash, block: &Hash) -> Vote {
        Vote {
            kind: VoteKind::Propose,
            height,
            view: 0,
            block: Hash::digest_parts(&[b"cairn/snow/header", &block.0, &parent.0]),
        }
    }

    pub fn sign(
        height: Height,
        parent: Hash,
        block: Hash,
        proposer: u32,
        chain: &ChainId,
        key: &Keypair,
    ) -> Header {
        let signature = Header::statement(height, &parent, &block).sign(chain, key);
        Header { height, parent, block, proposer, signature }
    }
}

/// One snow message.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    /// A new block, broadcast by its proposer.
    Propose(Header),
    /// "Which block do you prefer at `height`?" — `block` is the poller's preference there (a hint: an
    /// answerer that does not know it fetches it).
    Query { poll: u32, height: Height, block: Hash },
    /// The answer to `poll`: the answerer's preferred (or finalized) block at the queried height, or its
    /// preferred tip if it has nothing that high; `Hash::ZERO` for "no opinion".
    Chit { poll: u32, block: Hash },
    /// "Send me the headers from `from` up to `block`."
    Fetch { from: Height, block: Hash },
    /// Headers in increasing height, each the parent of the next (at most `MAX_HEADERS`).
    Headers(Vec<Header>),
    /// The fallback leader's proposal for `view` of `header.height`: its own `Notarize` signature, and the
    /// notarization it is locked on, if any (which justifies re-proposing that block).
    FbPropose { view: u64, header: Header, signature: Signature, lock: Option<Certificate> },
    /// A fallback `Notarize`, `Nullify` or `Finalize` vote by the sender.
    FbVote { vote: Vote, signature: Signature },
    /// A fallback certificate: a notarization or finalization with the header of its block, or a nullification
    /// (no header).
    FbCert { header: Option<Header>, certificate: Certificate },
    /// "Send me the fallback certificate of `height`": from a validator outside the height's committee, to a few
    /// members (answered with `FbCert` once they have it).
    FbPull { height: Height },
}

/// Borsh tags of the two hot messages (their layout is fixed, so they get a hand-written codec).
const QUERY_TAG: u8 = 1;
const CHIT_TAG: u8 = 2;

impl Message {
    /// Canonical borsh bytes (queries and chits are written by hand, byte-identical to borsh).
    pub fn encode(&self) -> Bytes {
        match self {
            Message::Query { poll, height, block } => {
                let mut b = [0u8; 45];
                b[0] = QUERY_TAG;
                b[1..5].copy_from_slice(&poll.to_le_bytes());
                b[5..13].copy_from_slice(&height.0.to_le_bytes());
                b[13..45].copy_from_slice(&block.0);
                Bytes::copy_from_slice(&b)
            }
            Message::Chit { poll, block } => {
                let mut b = [0u8; 37];
                b[0] = CHIT_TAG;
                b[1..5].copy_from_slice(&poll.to_le_bytes());
                b[5..37].copy_from_slice(&block.0);
                Bytes::copy_from_slice(&b)
            }
            other => Bytes::from(cairn_primitives::encode(other)),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, Error> {
        if bytes.len() > MAX_SNOW_MESSAGE_BYTES {
            return Err(Error::Oversized { len: bytes.len(), max: MAX_SNOW_MESSAGE_BYTES });
        }
        let u32_at = |i: usize| bytes.get(i..i + 4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes);
        let hash_at = |i: usize| bytes.get(i..i + 32).and_then(|s| s.try_into().ok()).map(Hash);
        match (bytes.first(), bytes.len()) {
            (Some(&QUERY_TAG), 45) => {
                let height = bytes.get(5..13).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes);
                if let (Some(poll), Some(h), Some(block)) = (u32_at(1), height, hash_at(13)) {
                    return Ok(Message::Query { poll, height: Height(h), block });
                }
            }
            (Some(&CHIT_TAG), 37) => {
                if let (Some(poll), Some(block)) = (u32_at(1), hash_at(5)) {
                    return Ok(Message::Chit { poll, block });
                }
            }
            _ => {}
        }
        let m: Message = cairn_primitives::decode(bytes, MAX_SNOW_MESSAGE_BYTES)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        if let Message::Headers(h) = &m
            && h.len() > MAX_HEADERS
        {
            return Err(Error::Malformed(format!("{} headers, more than {MAX_HEADERS}", h.len())));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_small_and_roundtrip() {
        let q = Message::Query { poll: 7, height: Height(3), block: Hash::digest(b"b") };
        assert_eq!(q.encode().len(), 45);
        assert_eq!(Message::decode(&q.encode()).unwrap(), q);
        let c = Message::Chit { poll: 7, block: Hash::digest(b"b") };
        assert_eq!(c.encode().len(), 37);
        // The hand-written codec is byte-identical to borsh.
        assert_eq!(q.encode().to_vec(), cairn_primitives::encode(&q));
        assert_eq!(c.encode().to_vec(), cairn_primitives::encode(&c));
        assert_eq!(Message::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn garbage_and_oversized_are_errors() {
        assert!(Message::decode(&[9, 1, 2]).is_err());
        assert!(Message::decode(&[]).is_err());
        assert!(Message::decode(&vec![0u8; MAX_SNOW_MESSAGE_BYTES + 1]).is_err());
        let h = Header {
            height: Height(1),
            parent: Hash::ZERO,
            block: Hash::ZERO,
            proposer: 0,
            signature: cairn_primitives::Signature([0; 64]),
        };
        let too_many = Message::Headers(vec![h; MAX_HEADERS + 1]);
        assert!(Message::decode(&too_many.encode()).is_err());
    }
}
