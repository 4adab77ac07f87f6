//! The sparse Merkle tree: node layout, hashing, the batched update and the proof walk.
//!
//! A key's path is the 256 bits of `blake3(key)`, most significant bit first. The tree is compressed the way
//! Diem's Jellyfish Merkle tree is: a subtree holding one leaf is that leaf, stored at the shortest prefix that is
//! unique to it; a subtree holding two or more leaves is an internal node; an empty subtree hashes to
//! `Hash::ZERO`. So the root is a function of the set of `(key hash, value hash)` pairs alone, whatever order or
//! batching produced them.
//!
//! Leaves are not stored as nodes of their own: an internal node holds its two children inline (a leaf child as
//! its key hash, value hash and the version its value was written at), which halves the node writes per change.

use cairn_primitives::Hash;

use crate::StateError;

/// A key hash has 256 bits, so no path is longer.
pub const MAX_DEPTH: usize = 256;

const LEAF_TAG: u8 = 0x00;
const INTERNAL_TAG: u8 = 0x01;

/// `blake3(key)`: the key's path in the tree.
pub fn key_hash(key: &[u8]) -> Hash {
    Hash::digest(key)
}

/// `blake3(value)`.
pub fn value_hash(value: &[u8]) -> Hash {
    Hash::digest(value)
}

/// `blake3(0x00 ‖ key_hash ‖ value_hash)`.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = LEAF_TAG;
    buf[1..33].copy_from_slice(&key_hash.0);
    buf[33..65].copy_from_slice(&value_hash.0);
    Hash(*blake3::hash(&buf).as_bytes())
}

/// `blake3(0x01 ‖ left ‖ right)`.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = INTERNAL_TAG;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..65].copy_from_slice(&right.0);
    Hash(*blake3::hash(&buf).as_bytes())
}

/// Bit `i` of a path (0 = most significant bit of the first byte). Bits past the end read as 0.
pub(crate) fn bit(h: &Hash, i: usize) -> u8 {
    h.0.get(i / 8).map_or(0, |b| (b >> (7 - (i % 8))) & 1)
}

/// Number of leading bits two paths share.
pub(crate) fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            return i * 8 + diff.leading_zeros() as usize;
        }
    }
    MAX_DEPTH
}

/// A slot of a page (or the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Child {
    Empty,
    /// `hash` is `leaf_hash(key_hash, value_hash)`, kept so rehashing a page does not rehash its leaves (the
    /// value hash, needed only for proofs, is recomputed from the value then). `version` is when this key's
    /// current value was written: it locates the value and is not hashed.
    Leaf {
        key_hash: Hash,
        hash: Hash,
        version: u64,
    },
    /// `version` is when the node was written; with the node's position it forms the node's storage key.
    Internal {
        hash: Hash,
        version: u64,
    },
}

impl Child {
    pub(crate) fn hash(&self) -> Hash {
        match self {
            Child::Empty => Hash::ZERO,
            Child::Leaf { hash, .. } => *hash,
            Child::Internal { hash, .. } => *hash,
        }
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Child::Empty => out.push(0),
            Child::Leaf { key_hash, hash, version } => {
                out.push(1);
                out.extend_from_slice(&key_hash.0);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&version.to_be_bytes());
            }
            Child::Internal { hash, version } => {
                out.push(2);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&version.to_be_bytes());
            }
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(73);
        self.encode_into(&mut out);
        out
    }

    /// Decodes one child from the front of `bytes`, returning it and the rest.
    pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(Child, &[u8]), StateError> {
        let (&tag, rest) = bytes.split_first().ok_or_else(|| corrupt("empty child"))?;
        match tag {
            0 => Ok((Child::Empty, rest)),
            1 => {
                let (key_hash, rest) = take_hash(rest)?;
                let (hash, rest) = take_hash(rest)?;
                let (version, rest) = take_u64(rest)?;
                Ok((Child::Leaf { key_hash, hash, version }, rest))
            }
            2 => {
                let (hash, rest) = take_hash(rest)?;
                let (version, rest) = take_u64(rest)?;
                Ok((Child::Internal { hash, version }, rest))
            }
            t => Err(corrupt(&format!("unknown child tag {t}"))),
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Child, StateError> {
        let (c, rest) = Child::decode_prefix(bytes)?;
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes after child"));
        }
        Ok(c)
    }
}

fn corrupt(what: &str) -> StateError {
    StateError::Corrupt(what.to_string())
}

fn take_hash(b: &[u8]) -> Result<(Hash, &[u8]), StateError> {
    let (h, rest) = b.split_first_chunk::<32>().ok_or_else(|| corrupt("truncated hash"))?;
    Ok((Hash(*h), rest))
}

fn take_u64(b: &[u8]) -> Result<(u64, &[u8]), StateError> {
    let (v, rest) = b.split_first_chunk::<8>().ok_or_else(|| corrupt("truncated version"))?;
    Ok((u64::from_be_bytes(*v), rest))
}

/// Children in one page: the 16 subtrees four levels below the page's depth.
pub(crate) const FANOUT: usize = 16;
/// Binary levels a page spans.
pub(crate) const PAGE_BITS: usize = 4;

/// A stored page: four binary levels of the tree, holding the 16 subtrees below them. Pages are a storage
/// layout only (as in Diem's JMT): hashing stays binary, computed over the slots by `range_hash`, so a proof is
/// the same binary Merkle path whatever the page size. A page exists only for a subtree with two or more leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub slots: [Child; FANOUT],
}

impl Page {
    /// `bitmap (u16 BE) ‖ each non-empty slot's child encoding`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bitmap = 0u16;
        for (i, c) in self.slots.iter().enumerate() {
            if *c != Child::Empty {
                bitmap |= 1 << i;
            }
        }
        let mut out = Vec::with_capacity(2 + bitmap.count_ones() as usize * 73);
        out.extend_from_slice(&bitmap.to_be_bytes());
        for c in self.slots.iter().filter(|c| **c != Child::Empty) {
            c.encode_into(&mut out);
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Page, StateError> {
        let (bitmap, mut rest) = bytes.split_first_chunk::<2>().ok_or_else(|| corrupt("truncated page"))?;
        let bitmap = u16::from_be_bytes(*bitmap);
        let mut slots = [Child::Empty; FANOUT];
        for (i, slot) in slots.iter_mut().enumerate() {
            if bitmap & (1 << i) != 0 {
                let (c, r) = Child::decode_prefix(rest)?;
                if c == Child::Empty {
                    return Err(corrupt("empty child marked present in page"));
                }
                *slot = c;
                rest = r;
            }
        }
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes after page"));
        }
        Ok(Page { slots })
    }

    pub(crate) fn hash(&self) -> Hash {
        range_hash(&self.slots)
    }
}

/// What a binary subtree made of `slots` collapses to, if it collapses.
fn collapse(slots: &[Child]) -> Option<Child> {
    let mut present = slots.iter().filter(|c| **c != Child::Empty);
    match (present.next(), present.next()) {
        (None, _) => Some(Child::Empty),
        (Some(leaf @ Child::Leaf { .. }), None) => Some(*leaf),
        _ => None,
    }
}

/// Hash of the binary subtree whose bottom is `slots` (a power-of-two run of a page's slots): empty is ZERO, a
/// lone leaf is that leaf, anything else is `internal_hash` of the two halves.
pub(crate) fn range_hash(slots: &[Child]) -> Hash {
    if let Some(c) = collapse(slots) {
        return c.hash();
    }
    match slots {
        [one] => one.hash(),
        _ => {
            let (l, r) = slots.split_at(slots.len() / 2);
            internal_hash(&range_hash(l), &range_hash(r))
        }
    }
}

/// The 4-bit slot index of a path at a page's depth (a multiple of 4).
pub(crate) fn nibble(h: &Hash, depth: usize) -> usize {
    h.0.get(depth / 8)
        .map_or(0, |b| if depth.is_multiple_of(8) { (b >> 4) as usize } else { (b & 0x0f) as usize })
}

/// Storage key of a page: `version (BE) ‖ depth ‖ first ceil(depth/8) bytes of the path, unused bits
/// zeroed`. Version first, so one commit's nodes are appended together at the end of the B-tree and pruning a
/// version deletes a contiguous run.
pub(crate) fn node_key(version: u64, depth: usize, path: &Hash) -> Vec<u8> {
    let nbytes = depth.div_ceil(8).min(32);
    let mut k = Vec::with_capacity(9 + nbytes);
    k.extend_from_slice(&version.to_be_bytes());
    k.push(depth.min(255) as u8);
    k.extend(path.0.iter().take(nbytes).copied());
    if !depth.is_multiple_of(8)
        && let Some(last) = k.last_mut()
    {
        *last &= 0xffu8 << (8 - depth % 8);
    }
    k
}

/// Where pages come from: redb in the store, a map in unit tests.
pub(crate) trait NodeSource {
    fn load(&self, key: &[u8]) -> Result<Page, StateError>;
}

/// One key's change, as the tree sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Change {
    pub key_hash: Hash,
    /// `leaf_hash(key_hash, value_hash)` of the new value; `None` deletes.
    pub leaf_hash: Option<Hash>,
    /// Index of the change in the caller's batch, to find the key and value bytes again.
    pub index: usize,
}

/// What the update did to a key's value, so the store can write the value tables and the stale index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueEvent {
    /// Change `index` wrote a new value at the new version.
    Written { index: usize },
    /// Change `index` deleted a present key.
    Deleted { index: usize },
    /// The value this key had since `version` is no longer current.
    Superseded { key_hash: Hash, version: u64 },
}

/// One batched update of the tree from one version to the next. Every touched page is read once and hashed
/// once.
pub(crate) struct Updater<'a, S> {
    src: &'a S,
    version: u64,
    /// Pages written at `version`, keyed by `node_key`.
    pub nodes: Vec<(Vec<u8>, Page)>,
    /// Keys of pages the new version no longer uses.
    pub stale_nodes: Vec<Vec<u8>>,
    pub events: Vec<ValueEvent>,
}

impl<'a, S: NodeSource> Updater<'a, S> {
    pub(crate) fn new(src: &'a S, version: u64) -> Self {
        Updater { src, version, nodes: Vec::new(), stale_nodes: Vec::new(), events: Vec::new() }
    }

    /// Applies `changes` (sorted by key hash, distinct) to the subtree `child` at page depth `depth`, whose keys
    /// all share their first `depth` bits with the changes. Returns the new subtree.
    pub(crate) fn update(
        &mut self,
        child: Child,
        depth: usize,
        changes: &[Change],
    ) -> Result<Child, StateError> {
        let Some(first) = changes.first() else {
            return Ok(child);
        };
        match child {
            Child::Empty => {
                let mut leaves = Vec::with_capacity(changes.len());
                for c in changes {
                    if let Some(hash) = c.leaf_hash {
                        self.events.push(ValueEvent::Written { index: c.index });
                        leaves.push(Leaf { key_hash: c.key_hash, hash, version: self.version });
                    }
                }
                self.build(depth, &leaves)
            }
            Child::Leaf { key_hash, hash, version } => {
                let existing = Leaf { key_hash, hash, version };
                let mut leaves = Vec::with_capacity(changes.len() + 1);
                let mut pending = true;
                for c in changes {
                    if pending && key_hash < c.key_hash {
                        leaves.push(existing);
                        pending = false;
                    }
                    if c.key_hash == key_hash {
                        pending = false;
                        match c.leaf_hash {
                            None => {
                                self.events.push(ValueEvent::Superseded { key_hash, version });
                                self.events.push(ValueEvent::Deleted { index: c.index });
                            }
                            Some(new) if new == hash => leaves.push(existing),
                            Some(new) => {
                                self.events.push(ValueEvent::Superseded { key_hash, version });
                                self.events.push(ValueEvent::Written { index: c.index });
                                leaves.push(Leaf { key_hash, hash: new, version: self.version });
                            }
                        }
                    } else if let Some(new) = c.leaf_hash {
                        self.events.push(ValueEvent::Written { index: c.index });
                        leaves.push(Leaf { key_hash: c.key_hash, hash: new, version: self.version });
                    }
                }
                if pending {
                    leaves.push(existing);
                }
                self.build(depth, &leaves)
            }
            Child::Internal { version, .. } => {
                if depth >= MAX_DEPTH {
                    return Err(corrupt("page below the deepest level"));
                }
                let key = node_key(version, depth, &first.key_hash);
                let mut slots = self.src.load(&key)?.slots;
                let mut changed = false;
                let mut rest = changes;
                while let Some(c) = rest.first() {
                    let n = nibble(&c.key_hash, depth);
                    let (group, tail) =
                        rest.split_at(rest.partition_point(|x| nibble(&x.key_hash, depth) == n));
                    rest = tail;
                    let Some(slot) = slots.get_mut(n) else { continue };
                    let new = self.update(*slot, depth + PAGE_BITS, group)?;
                    if new != *slot {
                        *slot = new;
                        changed = true;
                    }
                }
                if !changed {
                    return Ok(child);
                }
                self.stale_nodes.push(key);
                Ok(self.finish(depth, &first.key_hash, slots))
            }
        }
    }

    /// Builds a fresh subtree from leaves sorted by key hash.
    fn build(&mut self, depth: usize, leaves: &[Leaf]) -> Result<Child, StateError> {
        match leaves {
            [] => Ok(Child::Empty),
            [only] => Ok(only.child()),
            [first, ..] => {
                if depth >= MAX_DEPTH {
                    return Err(StateError::HashCollision(first.key_hash));
                }
                let mut slots = [Child::Empty; FANOUT];
                let mut rest = leaves;
                while let Some(l) = rest.first() {
                    let n = nibble(&l.key_hash, depth);
                    let (group, tail) =
                        rest.split_at(rest.partition_point(|x| nibble(&x.key_hash, depth) == n));
                    rest = tail;
                    let sub = self.build(depth + PAGE_BITS, group)?;
                    if let Some(slot) = slots.get_mut(n) {
                        *slot = sub;
                    }
                }
                Ok(self.finish(depth, &first.key_hash, slots))
            }
        }
    }

    /// The subtree with these slots, in canonical form: nothing if empty, the leaf itself if it is alone,
    /// otherwise a new page.
    fn finish(&mut self, depth: usize, path: &Hash, slots: [Child; FANOUT]) -> Child {
        if let Some(c @ (Child::Empty | Child::Leaf { .. })) = collapse(&slots) {
            return c;
        }
        let page = Page { slots };
        let hash = page.hash();
        self.nodes.push((node_key(self.version, depth, path), page));
        Child::Internal { hash, version: self.version }
    }
}

#[derive(Clone, Copy, Debug)]
struct Leaf {
    key_hash: Hash,
    hash: Hash,
    version: u64,
}

impl Leaf {
    fn child(&self) -> Child {
        Child::Leaf { key_hash: self.key_hash, hash: self.hash, version: self.version }
    }
}

/// Walks from `root` towards `key_hash`, returning the binary sibling hashes from the root down and the subtree
/// where the walk stopped (empty, or the leaf occupying the key's path).
pub(crate) fn walk<S: NodeSource>(
    src: &S,
    root: Child,
    key_hash: &Hash,
) -> Result<(Vec<Hash>, Child), StateError> {
    let mut siblings = Vec::new();
    let mut cur = root;
    let mut depth = 0;
    while let Child::Internal { version, .. } = cur {
        if depth >= MAX_DEPTH {
            return Err(corrupt("page below the deepest level"));
        }
        let page = src.load(&node_key(version, depth, key_hash))?;
        let mut range: &[Child] = &page.slots;
        let mut level = 0;
        cur = loop {
            if let Some(end) = collapse(range) {
                return Ok((siblings, end));
            }
            if let [one] = range {
                break *one;
            }
            let (l, r) = range.split_at(range.len() / 2);
            if bit(key_hash, depth + level) == 0 {
                siblings.push(range_hash(r));
                range = l;
            } else {
                siblings.push(range_hash(l));
                range = r;
            }
            level += 1;
        };
        depth += PAGE_BITS;
    }
    Ok((siblings, cur))
}

/// The root of the tree holding exactly these entries, computed in memory from scratch. It is the reference the
/// store's incremental root must equal: use it to check a store, or to know a genesis root before writing it.
/// If a key repeats, its last value counts.
pub fn compute_root<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Hash {
    let mut leaves: Vec<(Hash, Hash)> =
        entries.into_iter().map(|(k, v)| (key_hash(k), value_hash(v))).collect();
    // Stable sort, then keep the last of each run of equal keys.
    leaves.sort_by_key(|l| l.0);
    let mut dedup: Vec<(Hash, Hash)> = Vec::with_capacity(leaves.len());
    for l in leaves {
        match dedup.last_mut() {
            Some(last) if last.0 == l.0 => *last = l,
            _ => dedup.push(l),
        }
    }
    subtree_root(&dedup, 0)
}

fn subtree_root(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [(k, v)] => leaf_hash(k, v),
        _ => {
            let split = leaves.partition_point(|l| bit(&l.0, depth) == 0);
            let (l, r) = leaves.split_at(split);
            internal_hash(&subtree_root(l, depth + 1), &subtree_root(r, depth + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct MapSource(BTreeMap<Vec<u8>, Page>);

    impl NodeSource for MapSource {
        fn load(&self, key: &[u8]) -> Result<Page, StateError> {
            self.0.get(key).copied().ok_or_else(|| corrupt("missing"))
        }
    }

    fn apply(src: &mut MapSource, root: Child, version: u64, kv: &[(&[u8], Option<&[u8]>)]) -> Child {
        let mut changes: Vec<Change> = kv
            .iter()
            .enumerate()
            .map(|(index, (k, v))| Change {
                key_hash: key_hash(k),
                leaf_hash: v.map(|v| leaf_hash(&key_hash(k), &value_hash(v))),
                index,
            })
            .collect();
        changes.sort_by_key(|c| c.key_hash);
        let mut up = Updater::new(&*src, version);
        let root = up.update(root, 0, &changes).unwrap();
        let nodes = std::mem::take(&mut up.nodes);
        for (k, n) in nodes {
            src.0.insert(k, n);
        }
        root
    }

    #[test]
    fn bits_and_prefixes() {
        let h = Hash([0b1010_0000; 32]);
        assert_eq!(bit(&h, 0), 1);
        assert_eq!(bit(&h, 1), 0);
        assert_eq!(bit(&h, 2), 1);
        assert_eq!(bit(&h, 300), 0);
        let mut g = h;
        g.0[3] ^= 0b0001_0000;
        assert_eq!(common_prefix_bits(&h, &g), 27);
        assert_eq!(common_prefix_bits(&h, &h), 256);
    }

    #[test]
    fn node_key_masks_unused_bits() {
        let h = Hash([0xff; 32]);
        assert_eq!(node_key(7, 0, &h), vec![0, 0, 0, 0, 0, 0, 0, 7, 0]);
        assert_eq!(node_key(1, 3, &h), vec![0, 0, 0, 0, 0, 0, 0, 1, 3, 0b1110_0000]);
        assert_eq!(node_key(1, 16, &h).len(), 11);
    }

    #[test]
    fn page_round_trips_and_rejects_garbage() {
        let mut slots = [Child::Empty; FANOUT];
        slots[3] = Child::Leaf { key_hash: Hash([1; 32]), hash: Hash([2; 32]), version: 9 };
        slots[15] = Child::Internal { hash: Hash([3; 32]), version: 4 };
        let p = Page { slots };
        assert_eq!(Page::decode(&p.encode()).unwrap(), p);
        let bytes = p.encode();
        assert_eq!(bytes.len(), 2 + 73 + 41);
        assert!(Page::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Page::decode(&extra).is_err());
        assert!(Page::decode(&[0x80, 0x00, 0]).is_err(), "an empty child marked present");
        assert!(Page::decode(&[0x00, 0x01, 9]).is_err());
        assert!(Page::decode(&[]).is_err());
    }

    #[test]
    fn range_hash_is_the_binary_tree_of_the_slots() {
        let leaf = |b: u8| Child::Leaf {
            key_hash: Hash([b; 32]),
            hash: leaf_hash(&Hash([b; 32]), &Hash([b; 32])),
            version: 1,
        };
        let mut slots = [Child::Empty; FANOUT];
        assert_eq!(range_hash(&slots), Hash::ZERO);
        slots[5] = leaf(5);
        assert_eq!(range_hash(&slots), leaf(5).hash(), "a lone leaf collapses to the top");
        slots[6] = leaf(6);
        // 5 = 0101 and 6 = 0110 split at the third level.
        let pair = internal_hash(&leaf(5).hash(), &leaf(6).hash());
        let expected = internal_hash(&internal_hash(&Hash::ZERO, &pair), &Hash::ZERO);
        assert_eq!(range_hash(&slots), expected);
        let mut one_internal = [Child::Empty; FANOUT];
        one_internal[0] = Child::Internal { hash: Hash([7; 32]), version: 1 };
        let mut h = Hash([7; 32]);
        for _ in 0..4 {
            h = internal_hash(&h, &Hash::ZERO);
        }
        assert_eq!(range_hash(&one_internal), h, "a lone page does not collapse");
    }

    #[test]
    fn incremental_root_matches_reference() {
        let mut src = MapSource(BTreeMap::new());
        let keys: Vec<Vec<u8>> = (0u32..200).map(|i| i.to_le_bytes().to_vec()).collect();
        let ins: Vec<(&[u8], Option<&[u8]>)> =
            keys.iter().map(|k| (k.as_slice(), Some(b"v".as_slice()))).collect();
        let root = apply(&mut src, Child::Empty, 1, &ins);
        assert_eq!(root.hash(), compute_root(keys.iter().map(|k| (k.as_slice(), b"v".as_slice()))));
        // delete all but one: the last leaf bubbles to the root
        let del: Vec<(&[u8], Option<&[u8]>)> = keys.iter().skip(1).map(|k| (k.as_slice(), None)).collect();
        let root = apply(&mut src, root, 2, &del);
        assert!(matches!(root, Child::Leaf { .. }));
        assert_eq!(root.hash(), compute_root([(keys[0].as_slice(), b"v".as_slice())]));
        let root = apply(&mut src, root, 3, &[(keys[0].as_slice(), None)]);
        assert_eq!(root, Child::Empty);
        assert_eq!(root.hash(), Hash::ZERO);
    }

    #[test]
    fn unchanged_value_touches_nothing() {
        let mut src = MapSource(BTreeMap::new());
        let root =
            apply(&mut src, Child::Empty, 1, &[(b"a", Some(b"1")), (b"b", Some(b"2")), (b"c", Some(b"3"))]);
        let mut changes = vec![Change {
            key_hash: key_hash(b"a"),
            leaf_hash: Some(leaf_hash(&key_hash(b"a"), &value_hash(b"1"))),
            index: 0,
        }];
        changes.push(Change { key_hash: key_hash(b"zz"), leaf_hash: None, index: 1 });
        changes.sort_by_key(|c| c.key_hash);
        let mut up = Updater::new(&src, 2);
        let new_root = up.update(root, 0, &changes).unwrap();
        assert_eq!(new_root, root);
        assert!(up.nodes.is_empty() && up.stale_nodes.is_empty() && up.events.is_empty());
    }
}
