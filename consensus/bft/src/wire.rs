//! The engine's messages on the wire (borsh, at most `MAX_MESSAGE_BYTES`).

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cairn_consensus::{Certificate, MAX_MESSAGE_BYTES, Vote};
use cairn_primitives::{Height, Signature};

/// One BFT message. Votes carry no signer field: the transport authenticates the sender, and a vote is only ever
/// sent by its signer (votes of others travel inside certificates, which name signers by index).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    /// The leader's proposal. `vote` is the leader's own `Notarize` vote for the block; `justify` holds the
    /// certificates that allow it: the notarization of an earlier view when the leader re-proposes that view's
    /// block, and the nullifications of the views skipped since (empty in the common case).
    Proposal { vote: Vote, signature: Signature, justify: Vec<Certificate> },
    /// A `Notarize`, `Nullify` or `Finalize` vote by the sender.
    Vote { vote: Vote, signature: Signature },
    /// The same vote again, sent when a view's timer expires: "I am stuck here; if you hold the certificate
    /// that ended this view (or the finalization of this height), send it to me".
    Retry { vote: Vote, signature: Signature },
    /// A certificate, forwarded to a peer that is behind.
    Certificate(Certificate),
    /// "Send me the finalization certificate of `height` if you have it" (catch-up after a restart or partition).
    SyncRequest { height: Height },
}

impl Message {
    pub fn encode(&self) -> Bytes {
        Bytes::from(cairn_primitives::encode(self))
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, crate::Error> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(crate::Error::Oversized { len: bytes.len(), max: MAX_MESSAGE_BYTES });
        }
        cairn_primitives::decode(bytes, MAX_MESSAGE_BYTES).map_err(|e| crate::Error::Malformed(e.to_string()))
    }
}
