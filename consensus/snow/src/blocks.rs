//! Blocks coming in and going out: the proposer schedule, our own proposals, headers from peers (checked, then
//! verified by the application) and catch-up fetches of blocks peers named.

use cairn_consensus::{Effect, Evidence, SignedVote, Time, Vote};
use cairn_primitives::{Hash, Height, PublicKey};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::engine::{FETCH_RETRY, MAX_PENDING, PROPOSER_RANKS, SnowEngine};
use crate::sets::HeightSet;
use crate::tree::{MAX_AHEAD, Refused};
use crate::wire::{Header, Message};

impl SnowEngine {
    /// The ranked proposers of `height` (validator indices), drawn by weight from the chain seed.
    pub fn proposers(&self, height: Height) -> Vec<u32> {
        let Some(HeightSet { sampler, .. }) = self.set(height) else { return Vec::new() };
        let seed = Hash::digest_parts(&[b"cairn/snow/proposer", &self.cfg.seed.0, &height.0.to_le_bytes()]);
        let mut out = Vec::new();
        sampler.sample(&mut ChaCha8Rng::from_seed(seed.0), PROPOSER_RANKS, None, &mut out);
        out
    }

    /// When we build our block for `height` after entering it: rank `r` at `r` windows; unranked validators
    /// spread over as many windows again, at a point drawn from the chain seed, our key and the height (not from
    /// `rng`, whose draws pick the poll samples), so they do not all propose at once. `None` if not a validator.
    pub(crate) fn propose_delay(&self, height: Height) -> Option<Time> {
        let me = self.my_index(height)?;
        let window = self.cfg.params.proposer_window;
        let ranked = self.proposers(height);
        if let Some(rank) = ranked.iter().position(|p| *p == me) {
            return Some(rank as u64 * window);
        }
        let spread = ranked.len() as u64 * window;
        let draw = Hash::digest_parts(&[
            b"cairn/snow/late-proposer",
            &self.cfg.seed.0,
            &self.me.0,
            &height.0.to_le_bytes(),
        ]);
        let mut word = [0; 8];
        word.copy_from_slice(&draw.0[..8]);
        Some(spread + u64::from_le_bytes(word) % spread.max(1))
    }

    /// Remembers that a peer named `block` (bounded: the smallest ids go first when full).
    pub(crate) fn name(&mut self, block: Hash) {
        if self.named.insert(block) && self.named.len() > MAX_PENDING {
            self.named.pop_first();
        }
    }

    /// Asks `from` for the ancestry of `block` down to our next height (at most once per `FETCH_RETRY`).
    pub(crate) fn fetch(&mut self, now: Time, from: &PublicKey, block: Hash, out: &mut Vec<Effect>) {
        if self.fetching.get(&block).is_some_and(|t| now < t + FETCH_RETRY) {
            return;
        }
        if self.fetching.len() >= MAX_PENDING {
            self.fetching.retain(|_, t| now < *t + FETCH_RETRY);
            if self.fetching.len() >= MAX_PENDING {
                return;
            }
        }
        self.fetching.insert(block, now);
        out.push(Effect::Send { to: *from, bytes: Message::Fetch { from: self.height(), block }.encode() });
    }

    /// A header from anyone: check its proposer's signature, then ask the application about its payload.
    pub(crate) fn on_header(
        &mut self,
        now: Time,
        from: &PublicKey,
        header: Header,
        out: &mut Vec<Effect>,
    ) -> bool {
        if self.tree.contains(&header.block) || self.pending.contains_key(&header.block) {
            return true;
        }
        let Some(HeightSet { set, .. }) = self.set(header.height) else {
            self.dropped.far_future += 1;
            return false;
        };
        let Some(proposer) = set.validators().get(header.proposer as usize).map(|v| v.public_key) else {
            self.dropped.invalid_proposal += 1;
            return false;
        };
        let statement = Header::statement(header.height, &header.parent, &header.block);
        if !self.verify(&statement, &proposer, &header.signature) {
            self.dropped.bad_signature += 1;
            return false;
        }
        match self.proposals_seen.get(&(header.height, header.proposer)) {
            Some((s, sig)) if *s != statement.block => {
                let first =
                    SignedVote { vote: Vote { block: *s, ..statement }, signer: proposer, signature: *sig };
                let second = SignedVote { vote: statement, signer: proposer, signature: header.signature };
                if let Some(e) = Evidence::equivocation(first, second) {
                    out.push(Effect::Evidence(e));
                }
            }
            Some(_) => {}
            None => {
                if header.height <= self.height().next() {
                    self.proposals_seen
                        .insert((header.height, header.proposer), (statement.block, header.signature));
                }
            }
        }
        if header.height <= self.tree.root().0 || header.height.0 > self.tree.root().0.0 + MAX_AHEAD {
            self.dropped.stale += 1;
            return false;
        }
        let parent_known = header.parent == self.tree.root().1
            || self.tree.contains(&header.parent)
            || self.pending.contains_key(&header.parent);
        if !parent_known {
            self.fetch(now, from, header.block, out);
            return false;
        }
        if self.pending.len() >= MAX_PENDING {
            self.dropped.far_future += 1;
            return false;
        }
        self.pending.insert(header.block, header);
        // Any validator may propose once the first proposer's window has passed: no proposer to require.
        out.push(Effect::VerifyPayload {
            height: header.height,
            parent: header.parent,
            payload: header.block,
            proposer: None,
        });
        true
    }

    pub(crate) fn on_verdict(&mut self, now: Time, payload: Hash, valid: bool, out: &mut Vec<Effect>) {
        let Some(header) = self.pending.remove(&payload) else { return };
        if !valid {
            self.dropped.invalid_payload += 1;
            return;
        }
        let added = if self.named.contains(&header.block) {
            self.tree.add_named(header)
        } else {
            self.tree.add(header)
        };
        match added {
            Ok(()) => {
                self.top_up(now, out);
                self.fb_on_block(now, out);
            }
            Err(Refused::Known) => {}
            Err(Refused::Orphan | Refused::Invalid) => self.dropped.stale += 1,
        }
    }

    pub(crate) fn on_propose_timer(&mut self, out: &mut Vec<Effect>) {
        if self.tree.candidates().is_empty() && self.building.is_none() {
            let height = self.height();
            self.building = Some(height);
            out.push(Effect::BuildPayload { height, view: 0, parent: self.tree.root().1 });
        }
    }

    pub(crate) fn on_payload(&mut self, now: Time, height: Height, payload: Hash, out: &mut Vec<Effect>) {
        if self.building != Some(height) || height != self.height() {
            return;
        }
        let Some(me) = self.my_index(height) else { return };
        let parent = self.tree.root().1;
        let statement = Header::statement(height, &parent, &payload);
        let Ok(signature) = self.cfg.signer.sign_vote(&self.cfg.chain_id, &statement) else { return };
        let header = Header { height, parent, block: payload, proposer: me, signature };
        self.proposals_seen.insert(
            (height, me),
            (Header::statement(height, &header.parent, &payload).block, header.signature),
        );
        if self.tree.add(header).is_ok() {
            out.push(Effect::Broadcast { bytes: Message::Propose(header).encode() });
            self.top_up(now, out);
        }
    }
}
