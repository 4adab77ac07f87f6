//! The driver's side of evidence and last commits: the pool the engine's evidence goes to, what our proposals
//! carry, the checks on a peer's proposal, and what a committed block changes (see `crate::evidence`).

use cairn_consensus::{Certificate, Evidence};
use cairn_primitives::{Block, Height};
use tracing::warn;

use super::{Driver, MAX_CERTIFICATE_BYTES};
use crate::error::NodeError;
use crate::evidence::{LastCommit, MAX_EVIDENCE_AGE, check_evidence, check_last_commit};
use crate::shared::Counters;

impl Driver {
    /// What a (re)started node must know: the ids of the evidence the last `MAX_EVIDENCE_AGE` blocks committed
    /// (read back from the blocks themselves, so a crash can never lose them) and the parent's certificate.
    pub(super) fn load_evidence_state(&mut self) -> Result<(), NodeError> {
        let store = self.shared.store()?;
        let top = self.state.height;
        for h in top.0.saturating_sub(MAX_EVIDENCE_AGE).max(1)..=top.0 {
            if let Some(block) = store.block(Height(h))? {
                self.evidence.commit(Height(h), &block.evidence);
            }
        }
        self.parent_commit = match store.certificate(top)? {
            Some(bytes) => quorum_certificate(&bytes, top),
            None => None,
        };
        Ok(())
    }

    /// Evidence from our engine waits in the pool for a block (ours, or a peer's that our pool cannot see).
    pub(super) fn on_evidence(&mut self, e: Evidence) {
        Counters::inc(&self.shared.counters.evidence);
        let kept = self.evidence.add(&e);
        warn!(offender = %e.offender(), height = %e.first.vote.height, view = e.first.vote.view, kind = ?e.kind(),
            pooled = kept, pool = self.evidence.len(), "evidence of equivocation");
    }

    /// The last commit and evidence of our proposal at `height` (the next height).
    pub(super) fn proposal_extras(&self, height: Height) -> (Vec<u8>, Vec<Vec<u8>>) {
        let last_commit = self
            .parent_commit
            .as_ref()
            .and_then(|c| LastCommit::from_certificate(c, self.state.validators_at(self.state.height)?))
            .map(|c| cairn_primitives::encode(&c))
            .unwrap_or_default();
        let evidence = self.evidence.reap(height, &self.shared.chain_id, |h| self.state.validators_at(h));
        (last_commit, evidence)
    }

    /// A proposal's last commit and evidence, as every validator checks them before voting.
    pub(super) fn check_extras(&self, block: &Block) -> Result<(), String> {
        let parent_set = match self.parent_commit {
            Some(_) => Some(
                self.state
                    .validators_at(self.state.height)
                    .ok_or("the parent's validator set is unknown to this node")?,
            ),
            None => None,
        };
        let chain_id = &self.shared.chain_id;
        check_last_commit(
            &block.last_commit,
            self.state.height,
            self.state.last_block_id,
            parent_set,
            chain_id,
        )?;
        check_evidence(
            &block.evidence,
            block.header.height,
            chain_id,
            |h| self.state.validators_at(h),
            |id| self.evidence.is_committed(id),
        )?;
        Ok(())
    }

    /// After `block` committed with `certificate`: its evidence is on the chain, and its certificate is the next
    /// block's last commit if it is a quorum certificate.
    pub(super) fn evidence_committed(&mut self, block: &Block, certificate: &[u8]) {
        self.evidence.commit(block.header.height, &block.evidence);
        self.parent_commit = quorum_certificate(certificate, block.header.height);
    }
}

/// A finalization certificate of `height` (what BFT decides with: a `Finalize` quorum or, on the fast path, the
/// unanimous `Notarize` votes); `None` for a sampling engine's attestation.
fn quorum_certificate(bytes: &[u8], height: Height) -> Option<Certificate> {
    let cert: Certificate = cairn_primitives::decode(bytes, MAX_CERTIFICATE_BYTES).ok()?;
    (cert.is_finality_kind() && cert.vote.height == height).then_some(cert)
}
