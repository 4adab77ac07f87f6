//! The processing blocks above the last finalized one, one Snowflake instance per parent, and Snowman's
//! transitive poll rule.

use std::collections::{BTreeMap, VecDeque};

use cairn_primitives::{Hash, Height};

use crate::params::Scaled;
use crate::wire::Header;

/// Most blocks kept on one parent. A further block is dropped unless peers named it (`Tree::add_named`), which
/// replaces the least supported child instead: the bound on memory per height stays, and a burst of proposals
/// cannot lock out the block the network goes on to finalize (issue 11's stall at 10,000 nodes).
pub const MAX_CHILDREN: usize = 8;
/// Processing heights kept above the last finalized one.
pub const MAX_AHEAD: u64 = 64;
/// Finalized headers kept to answer polls and catch-up requests of peers that are behind.
pub const KEPT_FINALIZED: usize = 64;

#[derive(Clone, Debug)]
struct Node {
    header: Header,
    children: Vec<Hash>,
    /// Votes this block got in applied polls (transitively, from its descendants too), since it was added.
    support: u64,
}

/// Snowflake over the children of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snowflake {
    pub preference: Hash,
    pub confidence: u32,
    /// Votes the preference got in the last poll applied here (0 if the poll failed above this instance).
    pub last_votes: u32,
}

/// Why a header was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Already in the tree (or finalized).
    Known,
    /// Parent not known: fetch the ancestry first.
    Orphan,
    /// At or below the finalized height, too far ahead, wrong height for its parent, or too many siblings.
    Invalid,
}

/// The block tree. `root` is the last finalized block; every block in `blocks` descends from it.
#[derive(Debug)]
pub struct Tree {
    root: (Height, Hash),
    blocks: BTreeMap<Hash, Node>,
    /// Snowflake instance of each block that has children (key = the parent).
    instances: BTreeMap<Hash, Snowflake>,
    /// Children of the root.
    root_children: Vec<Hash>,
    /// Recently finalized blocks, oldest first: (height, block, header if we saw it).
    finalized: VecDeque<(Height, Hash, Option<Header>)>,
}

impl Tree {
    pub fn new(root: (Height, Hash)) -> Tree {
        let mut finalized = VecDeque::new();
        finalized.push_back((root.0, root.1, None));
        Tree {
            root,
            blocks: BTreeMap::new(),
            instances: BTreeMap::new(),
            root_children: Vec::new(),
            finalized,
        }
    }

    pub fn root(&self) -> (Height, Hash) {
        self.root
    }

    pub fn contains(&self, block: &Hash) -> bool {
        self.blocks.contains_key(block)
    }

    pub fn header(&self, block: &Hash) -> Option<&Header> {
        self.blocks.get(block).map(|n| &n.header)
    }

    pub fn is_processing(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// Children of the root (the candidates for the next height).
    pub fn candidates(&self) -> &[Hash] {
        &self.root_children
    }

    fn children(&self, block: &Hash) -> &[Hash] {
        if *block == self.root.1 {
            &self.root_children
        } else {
            self.blocks.get(block).map_or(&[], |n| n.children.as_slice())
        }
    }

    pub fn instance(&self, parent: &Hash) -> Option<Snowflake> {
        self.instances.get(parent).copied()
    }

    fn height_of(&self, block: &Hash) -> Option<Height> {
        if *block == self.root.1 {
            return Some(self.root.0);
        }
        self.blocks.get(block).map(|n| n.header.height)
    }

    /// Adds a (signature-checked) header on top of the root or a processing block.
    pub fn add(&mut self, header: Header) -> Result<(), Refused> {
        self.insert(header, false)
    }

    /// Adds a header that peers named (a poll answer, a polled block, a fallback proposal or certificate): if its
    /// parent's child list is full, the child with the least support that is not the parent's preference (the
    /// oldest among equals) is dropped with its subtree to make room. The preferred path — and so every block
    /// this node could finalize next — is never evicted.
    pub fn add_named(&mut self, header: Header) -> Result<(), Refused> {
        self.insert(header, true)
    }

    fn insert(&mut self, header: Header, named: bool) -> Result<(), Refused> {
        if self.blocks.contains_key(&header.block) || self.finalized_at(header.height) == Some(header.block) {
            return Err(Refused::Known);
        }
        if header.height <= self.root.0 || header.height.0 > self.root.0.0 + MAX_AHEAD {
            return Err(Refused::Invalid);
        }
        let Some(parent_height) = self.height_of(&header.parent) else { return Err(Refused::Orphan) };
        if parent_height.next() != header.height {
            return Err(Refused::Invalid);
        }
        if self.children(&header.parent).len() >= MAX_CHILDREN && !(named && self.evict_child(&header.parent))
        {
            return Err(Refused::Invalid);
        }
        if header.parent == self.root.1 {
            self.root_children.push(header.block);
        } else if let Some(parent) = self.blocks.get_mut(&header.parent) {
            parent.children.push(header.block);
        }
        // Snowman: the first child seen is the initial preference.
        self.instances.entry(header.parent).or_insert(Snowflake {
            preference: header.block,
            confidence: 0,
            last_votes: 0,
        });
        self.blocks.insert(header.block, Node { header, children: Vec::new(), support: 0 });
        Ok(())
    }

    /// Drops the least supported child of `parent` that is not its preference (oldest first among equals), with
    /// its subtree. False if there is none.
    fn evict_child(&mut self, parent: &Hash) -> bool {
        let preferred = self.instances.get(parent).map(|i| i.preference);
        let support = |b: &Hash| self.blocks.get(b).map_or(0, |n| n.support);
        let Some(victim) = self
            .children(parent)
            .iter()
            .filter(|c| Some(**c) != preferred)
            .min_by_key(|c| support(c))
            .copied()
        else {
            return false;
        };
        if *parent == self.root.1 {
            self.root_children.retain(|c| *c != victim);
        } else if let Some(p) = self.blocks.get_mut(parent) {
            p.children.retain(|c| *c != victim);
        }
        let mut stack = vec![victim];
        while let Some(b) = stack.pop() {
            if let Some(n) = self.blocks.remove(&b) {
                stack.extend(n.children);
            }
            self.instances.remove(&b);
        }
        true
    }

    /// The preferred chain from the root, in increasing height.
    pub fn preferred_path(&self) -> Vec<Hash> {
        let mut path = Vec::new();
        let mut node = self.root.1;
        while let Some(inst) = self.instances.get(&node) {
            path.push(inst.preference);
            node = inst.preference;
        }
        path
    }

    /// The preferred tip (the root if nothing is processing).
    pub fn tip(&self) -> (Height, Hash) {
        match self.preferred_path().last() {
            Some(b) => (self.height_of(b).unwrap_or(self.root.0), *b),
            None => self.root,
        }
    }

    /// A finalized block at `height`, if still remembered.
    pub fn finalized_at(&self, height: Height) -> Option<Hash> {
        self.finalized.iter().find(|(h, _, _)| *h == height).map(|(_, b, _)| *b)
    }

    /// The header of the finalized block at `height`, if still remembered.
    pub fn finalized_header(&self, height: Height) -> Option<Header> {
        self.finalized.iter().find(|(h, _, _)| *h == height).and_then(|(_, _, header)| *header)
    }

    /// What we answer a poll about `height`: the finalized block there, else the preferred block there, else the
    /// preferred tip (lower: a vote for an ancestor), else nothing (`Hash::ZERO`: the height is forgotten).
    pub fn answer(&self, height: Height) -> Hash {
        if height <= self.root.0 {
            return self.finalized_at(height).unwrap_or(Hash::ZERO);
        }
        // Walk the preferred chain without allocating (this runs for every poll we answer).
        let mut node = self.root.1;
        let mut at = self.root.0;
        while at < height {
            match self.instances.get(&node) {
                Some(inst) => {
                    node = inst.preference;
                    at = at.next();
                }
                None => break,
            }
        }
        node
    }

    /// Headers from `from` up to `block` (known, processing or finalized), oldest first, at most `max`.
    pub fn ancestry(&self, from: Height, block: &Hash, max: usize) -> Vec<Header> {
        let mut out = Vec::new();
        let mut cur = *block;
        loop {
            let header = match self.blocks.get(&cur) {
                Some(n) => n.header,
                None => match self.finalized.iter().find(|(_, b, _)| *b == cur) {
                    Some((_, _, Some(h))) => *h,
                    _ => break,
                },
            };
            if header.height < from {
                break;
            }
            out.push(header);
            cur = header.parent;
        }
        out.reverse();
        out.truncate(max);
        out
    }

    /// Whether `block` is `ancestor` or descends from it (only through processing blocks).
    pub fn supports(&self, block: &Hash, ancestor: &Hash) -> bool {
        let mut cur = *block;
        loop {
            if cur == *ancestor {
                return true;
            }
            match self.blocks.get(&cur) {
                Some(n) => cur = n.header.parent,
                None => return false,
            }
        }
    }

    /// Applies one finished poll (`votes`: answered block → number of sampled answerers) with Snowman's rule and
    /// returns the blocks it finalized, oldest first.
    ///
    /// Transitive votes: a vote for a block counts for every processing ancestor. From the root down, the child
    /// with the most votes is examined: ≥ α_p switches the preference to it; ≥ α_c counts one more consecutive
    /// success for it, anything less resets the confidence of this instance and of every instance below it on
    /// the preferred path. β consecutive successes finalize.
    pub fn record_poll(&mut self, votes: &[(Hash, u32)], alpha: Scaled, beta: u32) -> Vec<Header> {
        let mut tally: BTreeMap<Hash, u32> = BTreeMap::new();
        for (block, count) in votes {
            let mut cur = *block;
            while let Some(n) = self.blocks.get_mut(&cur) {
                *tally.entry(cur).or_default() += count;
                n.support += u64::from(*count);
                cur = n.header.parent;
            }
        }
        let mut node = self.root.1;
        let mut failed = false;
        while let Some(inst) = self.instances.get(&node).copied() {
            let children = self.children(&node);
            // The best child; ties keep the current preference, then the smaller id.
            let count = |b: &Hash| tally.get(b).copied().unwrap_or(0);
            let mut best = inst.preference;
            for c in children {
                if count(c) > count(&best)
                    || (count(c) == count(&best) && *c < best && best != inst.preference)
                {
                    best = *c;
                }
            }
            let mut next = inst;
            next.last_votes = if failed { 0 } else { count(&inst.preference).max(count(&best)) };
            if failed || count(&best) < alpha.alpha_p {
                next.confidence = 0;
                failed = true;
            } else {
                if best != next.preference {
                    next.preference = best;
                    next.confidence = 0;
                }
                if count(&best) >= alpha.alpha_c {
                    next.confidence += 1;
                } else {
                    next.confidence = 0;
                    failed = true;
                }
            }
            self.instances.insert(node, next);
            node = next.preference;
        }
        let mut accepted = Vec::new();
        while let Some(inst) = self.instances.get(&self.root.1).copied() {
            if inst.confidence < beta {
                break;
            }
            match self.accept(&inst.preference) {
                Some(h) => accepted.push(h),
                None => break,
            }
        }
        accepted
    }

    /// Makes `block` (a child of the root) the new root and drops every block that does not descend from it.
    pub fn accept(&mut self, block: &Hash) -> Option<Header> {
        let header = self.blocks.get(block).map(|n| n.header)?;
        if header.parent != self.root.1 {
            return None;
        }
        let old_root = self.root.1;
        self.root = (header.height, header.block);
        self.instances.remove(&old_root);
        let mut keep = BTreeMap::new();
        self.root_children = self.blocks.get(block).map(|n| n.children.clone()).unwrap_or_default();
        let mut stack = vec![header.block];
        while let Some(b) = stack.pop() {
            if let Some(n) = self.blocks.remove(&b) {
                stack.extend(n.children.iter().copied());
                if b != header.block {
                    keep.insert(b, n);
                }
            }
        }
        let kept: Vec<Hash> = keep.keys().copied().collect();
        self.blocks = keep;
        self.instances.retain(|k, _| *k == header.block || kept.contains(k));
        self.finalized.push_back((header.height, header.block, Some(header)));
        while self.finalized.len() > KEPT_FINALIZED {
            self.finalized.pop_front();
        }
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::Signature;

    use super::*;

    const A: Scaled = Scaled { k: 20, alpha_p: 15, alpha_c: 15 };

    fn h(height: u64, parent: Hash, name: &str) -> Header {
        Header {
            height: Height(height),
            parent,
            block: Hash::digest(name.as_bytes()),
            proposer: 0,
            signature: Signature([0; 64]),
        }
    }

    fn genesis() -> Hash {
        Hash::digest(b"genesis")
    }

    #[test]
    fn beta_consecutive_polls_finalize() {
        let mut t = Tree::new((Height(0), genesis()));
        let a = h(1, genesis(), "a");
        t.add(a).unwrap();
        for _ in 0..19 {
            assert!(t.record_poll(&[(a.block, 15)], A, 20).is_empty());
        }
        assert_eq!(t.record_poll(&[(a.block, 15)], A, 20), vec![a]);
        assert_eq!(t.root(), (Height(1), a.block));
        assert!(!t.is_processing());
    }

    #[test]
    fn a_failed_poll_resets_confidence() {
        let mut t = Tree::new((Height(0), genesis()));
        let a = h(1, genesis(), "a");
        t.add(a).unwrap();
        for _ in 0..19 {
            t.record_poll(&[(a.block, 15)], A, 20);
        }
        t.record_poll(&[(a.block, 14)], A, 20);
        assert_eq!(t.instance(&genesis()).unwrap().confidence, 0);
        for _ in 0..19 {
            assert!(t.record_poll(&[(a.block, 15)], A, 20).is_empty());
        }
        assert_eq!(t.record_poll(&[(a.block, 20)], A, 20).len(), 1);
    }

    #[test]
    fn alpha_p_switches_preference_and_restarts_count() {
        let mut t = Tree::new((Height(0), genesis()));
        let (a, b) = (h(1, genesis(), "a"), h(1, genesis(), "b"));
        t.add(a).unwrap();
        t.add(b).unwrap();
        assert_eq!(t.instance(&genesis()).unwrap().preference, a.block);
        t.record_poll(&[(a.block, 15)], A, 20);
        t.record_poll(&[(b.block, 14), (a.block, 6)], A, 20);
        assert_eq!(t.instance(&genesis()).unwrap().preference, a.block, "14 < alpha_p does not switch");
        t.record_poll(&[(b.block, 15), (a.block, 5)], A, 20);
        let inst = t.instance(&genesis()).unwrap();
        assert_eq!((inst.preference, inst.confidence), (b.block, 1));
    }

    #[test]
    fn votes_for_a_descendant_count_for_ancestors() {
        let mut t = Tree::new((Height(0), genesis()));
        let a = h(1, genesis(), "a");
        let b = h(2, a.block, "b");
        let c = h(3, b.block, "c");
        for x in [a, b, c] {
            t.add(x).unwrap();
        }
        let mut done = Vec::new();
        for _ in 0..20 {
            done.extend(t.record_poll(&[(c.block, 15)], A, 20));
        }
        assert_eq!(done, vec![a, b, c], "a poll for the tip finalizes the whole chain");
    }

    #[test]
    fn accept_prunes_conflicting_branches_and_answers_from_history() {
        let mut t = Tree::new((Height(0), genesis()));
        let (a, b) = (h(1, genesis(), "a"), h(1, genesis(), "b"));
        let b2 = h(2, b.block, "b2");
        for x in [a, b, b2] {
            t.add(x).unwrap();
        }
        t.accept(&a.block).unwrap();
        assert!(!t.contains(&b.block) && !t.contains(&b2.block));
        assert_eq!(t.answer(Height(1)), a.block);
        assert_eq!(t.add(b2), Err(Refused::Orphan));
        assert_eq!(t.add(a), Err(Refused::Known));
        assert_eq!(t.add(h(1, genesis(), "late")), Err(Refused::Invalid));
    }

    #[test]
    fn siblings_are_bounded() {
        let mut t = Tree::new((Height(0), genesis()));
        for i in 0..MAX_CHILDREN {
            t.add(h(1, genesis(), &format!("x{i}"))).unwrap();
        }
        assert_eq!(t.add(h(1, genesis(), "one-too-many")), Err(Refused::Invalid));
    }

    #[test]
    fn among_equally_supported_children_the_oldest_is_evicted() {
        let mut t = Tree::new((Height(0), genesis()));
        let kids: Vec<Header> = (0..MAX_CHILDREN).map(|i| h(1, genesis(), &format!("x{i}"))).collect();
        for k in &kids {
            t.add(*k).unwrap();
        }
        t.add_named(h(1, genesis(), "named")).unwrap();
        assert!(t.contains(&kids[0].block) && !t.contains(&kids[1].block) && t.contains(&kids[2].block));
    }

    #[test]
    fn a_named_block_replaces_the_least_supported_child_never_the_preference() {
        let mut t = Tree::new((Height(0), genesis()));
        let kids: Vec<Header> = (0..MAX_CHILDREN).map(|i| h(1, genesis(), &format!("x{i}"))).collect();
        for k in &kids {
            t.add(*k).unwrap();
        }
        let preferred = kids[0].block;
        // Everyone but the preference and x1 gets a little support (below α_p: the preference does not move), and a
        // grandchild under x1 is dropped with it.
        let others: Vec<(Hash, u32)> = kids[2..].iter().map(|k| (k.block, 2)).collect();
        t.record_poll(&others, A, 20);
        let under = h(2, kids[1].block, "under-x1");
        t.add(under).unwrap();
        assert_eq!(t.instance(&genesis()).unwrap().preference, preferred);

        let named = h(1, genesis(), "named");
        assert_eq!(t.add(named), Err(Refused::Invalid), "unnamed blocks are still refused");
        t.add_named(named).unwrap();
        assert!(t.contains(&named.block) && t.contains(&preferred), "the preference (0 support) is kept");
        assert!(!t.contains(&kids[1].block) && !t.contains(&under.block), "x1 and its subtree were evicted");
        assert_eq!(t.candidates().len(), MAX_CHILDREN, "the bound holds");
        // Next: the newcomer, with no support yet, is now the least supported non-preferred child.
        let again = h(1, genesis(), "named-2");
        t.add_named(again).unwrap();
        assert!(!t.contains(&named.block) && t.contains(&again.block), "support decides, not being named");
        assert!(t.contains(&preferred));
        assert_eq!(t.tip(), (Height(1), preferred));
    }
}
