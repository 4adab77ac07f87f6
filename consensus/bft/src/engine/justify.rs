//! What earlier views oblige a proposal to extend: notarizations, and nullifications that *bind* a block (the
//! fast path: README, "The fast path"), with the certificates that prove it to a validator that missed them.
//!
//! For each nullified view we keep the first nullification that binds a block, and a proof that the view binds
//! nothing once we have one: a nullification that binds nothing, or two that bind different blocks (if a block
//! had been finalized fast, every nullification of its view would bind it). Our fullest nullification (every
//! nullify vote counted) is checked too, so validators that have seen the same votes agree.

use cairn_consensus::{Certificate, VoteKind};
use cairn_primitives::Hash;

use super::*;

impl BftEngine {
    /// The block a nullification binds its view to.
    pub(super) fn binds(&self, nullification: &Certificate) -> Option<Hash> {
        self.set().and_then(|s| crate::fast::binds(nullification, s))
    }

    /// Records what a valid nullification (received, formed, or our fullest) says about its view.
    pub(super) fn note_nullification(&mut self, cert: &Certificate) {
        debug_assert_eq!(cert.vote.kind, VoteKind::Nullify);
        let view = cert.vote.view;
        if self.round.free.contains_key(&view) {
            return;
        }
        match self.binds(cert) {
            None => {
                self.round.free.insert(view, vec![cert.clone()]);
            }
            Some(block) => match self.round.binding.get(&view) {
                Some(other) if self.binds(other) != Some(block) => {
                    let proof = vec![other.clone(), cert.clone()];
                    self.round.free.insert(view, proof);
                }
                Some(_) => {}
                None => {
                    self.round.binding.insert(view, cert.clone());
                }
            },
        }
    }

    /// After counting a nullify vote: what our fullest nullification of `view` (if it has a quorum) binds now.
    pub(super) fn note_fullest(&mut self, view: u64) {
        if self.round.free.contains_key(&view) {
            return;
        }
        if let Some(full) = self.round.book.as_ref().and_then(|b| b.nullification(self.height, view)) {
            self.note_nullification(&full);
        }
    }

    /// The block nullified view `view` binds, as far as we know (`None` once we hold proof it binds nothing).
    fn bound(&self, view: u64) -> Option<Hash> {
        if self.round.free.contains_key(&view) {
            return None;
        }
        self.round.binding.get(&view).and_then(|c| self.binds(c))
    }

    /// The block view `p` obliges later proposals to re-propose, as far as we know: its notarized block, or the
    /// block its nullification binds.
    pub(super) fn block_at(&self, p: u64) -> Option<Hash> {
        self.round.notarizations.get(&p).map(|c| c.vote.block).or_else(|| self.bound(p))
    }

    /// Whether a proposal of `block` may skip view `u`: it is nullified and binds no other block.
    fn skippable(&self, u: u64, block: Hash) -> bool {
        self.round.nullifications.contains_key(&u) && self.bound(u).is_none_or(|b| b == block)
    }

    /// What a proposal in `view` must extend: the block the latest view `p < view` obliges (see `block_at`) with
    /// every view in `(p, view)` nullified (`Some(Some(p))`), anything if all earlier views are nullified and
    /// bind nothing (`Some(None)`), or unknown yet (`None`).
    pub(super) fn justification(&self, view: u64) -> Option<Option<u64>> {
        let mut p = view;
        while p > 0 {
            p -= 1;
            if self.block_at(p).is_some() {
                return Some(Some(p));
            }
            if !self.round.nullifications.contains_key(&p) {
                return None;
            }
        }
        Some(None)
    }

    /// Whether the certificates we hold justify proposing `block` in `view`, and how: `Some(Some(p))` when it is
    /// the block view `p` obliges and every view in `(p, view)` may be skipped, `Some(None)` when it is fresh and
    /// every earlier view may be skipped, `None` when it is not justified.
    pub(super) fn justifies(&self, view: u64, block: Hash) -> Option<Option<u64>> {
        let mut u = view;
        while u > 0 {
            u -= 1;
            if self.block_at(u) == Some(block) {
                return Some(Some(u));
            }
            if !self.skippable(u, block) {
                return None;
            }
        }
        Some(None)
    }

    /// The certificates that justify a proposal in `view` re-proposing what view `justify` obliges (or a fresh
    /// block): that view's notarization (or binding nullification) and, for each view in between (the last
    /// `MAX_VIEW_AHEAD` of them), its nullification and the proof that it binds nothing if we hold one, so a
    /// validator that missed them can still check the proposal.
    pub(super) fn justification_certs(&self, view: u64, justify: Option<u64>) -> Vec<Certificate> {
        let start = justify.map_or(0, |p| p.saturating_add(1));
        let start = start.max(view.saturating_sub(MAX_VIEW_AHEAD));
        let mut certs: Vec<Certificate> = justify
            .and_then(|p| self.round.notarizations.get(&p).or_else(|| self.round.binding.get(&p)).cloned())
            .into_iter()
            .collect();
        for (v, first) in self.round.nullifications.range(start..view) {
            match self.round.free.get(v) {
                Some(proof) => certs.extend(proof.iter().cloned()),
                None => certs.push(self.round.binding.get(v).unwrap_or(first).clone()),
            }
        }
        certs
    }
}
