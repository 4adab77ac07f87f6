//! Serving nodes left behind at a height we finalized: the certificate for askers outside the committee
//! (`fb_on_pull`) and committee certificates for heights finalized by sampling, assembled on demand. Votes for
//! members still in its fallback are in `help.rs`.
//!
//! A validator outside a height's committee gets that height's block only from the committee's certificate or from
//! its own sampling. When the committee's members finalized the height *by sampling*, none of them holds a
//! certificate, so pulls went unanswered and a stuck non-member had to finish by sampling against 20 % of
//! answers for the other block (poll success ≈ 0.80, β = 20 in a row: tens of seconds in the tail). So a member
//! that finalized a height by sampling and is asked for its certificate (or held askers when it finalized)
//! signs `Finalize(h, view 0, block)` and sends it to the committee once; every member that finalized the same
//! block answers with its own, once. More than 2/3 of the seats of these votes is an ordinary fallback
//! certificate (`verify_fallback_certificate` accepts it): it is kept and sent to the askers.
//!
//! View 0 is never a fallback view (they start at 1), so these votes meet no lock or nullification. An honest
//! member signs one only for the block it finalized, so two certificates of different blocks at one height need
//! honest members that finalized different blocks — the sampling failure already bounded in the README — or
//! more than 1/3 Byzantine seats. A stuck member collects the votes too and finalizes with the certificate.

use std::collections::{BTreeMap, BTreeSet};

use cairn_bft::VoteBook;
use cairn_consensus::{Certificate, Effect, Time, Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};

use crate::committee::Committee;
use crate::engine::SnowEngine;
use crate::fallback::{KEPT_CERTIFICATES, MAX_PULLERS};
use crate::wire::Message;

/// The view of sampled-finalization attestations (fallback views start at 1).
pub const ATTEST_VIEW: u64 = 0;

/// One height's collection of attestations.
pub(crate) struct Collect {
    committee: Committee,
    book: VoteBook,
    /// Non-members waiting for this height's certificate.
    pullers: BTreeSet<PublicKey>,
    /// We sent our own attestation.
    sent: bool,
}

/// Collections of the last few heights (at most `KEPT_CERTIFICATES`).
#[derive(Default)]
pub(crate) struct Attestations {
    heights: BTreeMap<Height, Collect>,
}

impl SnowEngine {
    /// The collection of `height`, created if the height is the current one or one we finalized and still remember
    /// (so votes for other heights cannot push out the collections in use; at most `KEPT_CERTIFICATES` kept).
    fn att_collect(&mut self, height: Height) -> Option<&mut Collect> {
        let current = self.height();
        if height > current
            || (height < current && self.tree.finalized_at(height).is_none())
            || self.fallback_certs.contains_key(&height)
        {
            return None;
        }
        if !self.attest.heights.contains_key(&height) {
            let committee = self.committee_of(height)?;
            let book = VoteBook::new(committee.set.clone());
            self.attest
                .heights
                .insert(height, Collect { committee, book, pullers: BTreeSet::new(), sent: false });
            while self.attest.heights.len() > KEPT_CERTIFICATES {
                self.attest.heights.pop_first();
            }
        }
        self.attest.heights.get_mut(&height)
    }

    /// We finalized `height` by sampling and someone needs its certificate: attest (once) and remember `pullers`.
    pub(crate) fn att_start(
        &mut self,
        now: Time,
        height: Height,
        pullers: BTreeSet<PublicKey>,
        out: &mut Vec<Effect>,
    ) {
        let Some(block) = self.tree.finalized_at(height).filter(|b| *b != Hash::ZERO) else { return };
        let chain = self.cfg.chain_id.clone();
        let signer = self.cfg.signer.clone();
        let me = self.me;
        let Some(collect) = self.att_collect(height) else { return };
        for p in pullers {
            if collect.pullers.len() < MAX_PULLERS {
                collect.pullers.insert(p);
            }
        }
        let Some(index) = collect.committee.me else { return };
        if collect.sent {
            return;
        }
        collect.sent = true;
        let vote = Vote { kind: VoteKind::Finalize, height, view: ATTEST_VIEW, block };
        let Ok(signature) = signer.sign_vote(&chain, &vote) else { return };
        let bytes = Message::FbVote { vote, signature }.encode();
        if collect.committee.whole {
            out.push(Effect::Broadcast { bytes });
        } else {
            for v in collect.committee.set.validators().iter().filter(|v| v.public_key != me) {
                out.push(Effect::Send { to: v.public_key, bytes: bytes.clone() });
            }
        }
        let added = collect.book.add(index, vote, signature);
        if let Some(c) = added.certificate {
            self.att_certified(now, c, out);
        }
    }

    /// A member's attestation (a view-0 `Finalize`): count it, and attest ourselves if we finalized the height.
    pub(crate) fn att_on_vote(
        &mut self,
        now: Time,
        from: &PublicKey,
        vote: Vote,
        signature: Signature,
        out: &mut Vec<Effect>,
    ) {
        let height = vote.height;
        if height < self.height() && self.tree.finalized_at(height) == Some(vote.block) {
            self.att_start(now, height, BTreeSet::new(), out);
        }
        let Some(collect) = self.att_collect(height) else {
            self.dropped.stale += 1;
            return;
        };
        let Some(index) = collect.committee.index_of(from) else {
            self.dropped.unknown_sender += 1;
            return;
        };
        if !self.verify(&vote, from, &signature) {
            self.dropped.bad_signature += 1;
            return;
        }
        let Some(collect) = self.attest.heights.get_mut(&height) else { return };
        let added = collect.book.add(index, vote, signature);
        if let Some(e) = added.evidence {
            out.push(Effect::Evidence(e));
        }
        if let Some(c) = added.certificate {
            self.att_certified(now, c, out);
        }
    }

    /// A quorum of attestations: finalize with it if we are still at that height, else keep it for askers.
    fn att_certified(&mut self, now: Time, c: Certificate, out: &mut Vec<Effect>) {
        let height = c.vote.height;
        let Some(collect) = self.attest.heights.remove(&height) else { return };
        if height == self.height() {
            self.fb.pullers.extend(collect.pullers);
            self.fb_on_finalize_certificate(now, c, out);
            return;
        }
        let Some(header) = self.tree.finalized_header(height) else { return };
        if header.block != c.vote.block {
            return;
        }
        if !collect.pullers.is_empty() {
            let bytes = Message::FbCert { header: Some(header), certificate: c.clone() }.encode();
            for to in collect.pullers {
                out.push(Effect::Send { to, bytes: bytes.clone() });
            }
        }
        if collect.committee.me.is_some() {
            self.fallback_certs.insert(height, (header, c));
            while self.fallback_certs.len() > KEPT_CERTIFICATES {
                self.fallback_certs.pop_first();
            }
        }
    }

    /// A non-member asks for the certificate of `height`: sent now if we have it, or when we finalize.
    pub(crate) fn fb_on_pull(&mut self, now: Time, from: &PublicKey, height: Height, out: &mut Vec<Effect>) {
        if height == self.fb.height {
            if self.fb_me().is_some() && self.fb.pullers.len() < MAX_PULLERS {
                self.fb.pullers.insert(*from);
            }
            return;
        }
        match self.fallback_certs.get(&height) {
            Some((header, c)) => out.push(Effect::Send {
                to: *from,
                bytes: Message::FbCert { header: Some(*header), certificate: c.clone() }.encode(),
            }),
            // Finalized by sampling: no certificate yet, assemble one from the members' attestations.
            None if self.tree.finalized_at(height).is_some() => {
                self.att_start(now, height, std::iter::once(*from).collect(), out)
            }
            None => self.dropped.stale += 1,
        }
    }
}
