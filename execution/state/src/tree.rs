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

/// A child slot of an internal node (or the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Child {
    Empty,
    /// `version` is when this key's current value was written; it locates the value, it is not hashed.
    Leaf {
        key_hash: Hash,
        value_hash: Hash,
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
            Child::Leaf { key_hash, value_hash, .. } => leaf_hash(key_hash, value_hash),
            Child::Internal { hash, .. } => *hash,
        }
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Child::Empty => out.push(0),
            Child::Leaf { key_hash, value_hash, version } => {
                out.push(1);
                out.extend_from_slice(&key_hash.0);
                out.extend_from_slice(&value_hash.0);
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
                let (value_hash, rest) = take_hash(rest)?;
                let (version, rest) = take_u64(rest)?;
                Ok((Child::Leaf { key_hash, value_hash, version }, rest))
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

/// An internal node: two children, at least one of them not empty, and never a lone leaf beside an empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub left: Child,
    pub right: Child,
}

impl Node {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(146);
        self.left.encode_into(&mut out);
        self.right.encode_into(&mut out);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Node, StateError> {
        let (left, rest) = Child::decode_prefix(bytes)?;
        let (right, rest) = Child::decode_prefix(rest)?;
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes after node"));
        }
        Ok(Node { left, right })
    }
}

/// Storage key of an internal node: `version (BE) ‖ depth ‖ first ceil(depth/8) bytes of the path, unused bits
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

/// Where internal nodes come from: redb in the store, a map in unit tests.
pub(crate) trait NodeSource {
    fn load(&self, key: &[u8]) -> Result<Node, StateError>;
}

/// One key's change, as the tree sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Change {
    pub key_hash: Hash,
    /// `None` deletes.
    pub value_hash: Option<Hash>,
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

/// One batched update of the tree from one version to the next. Every touched internal node is read once and
/// hashed once.
pub(crate) struct Updater<'a, S> {
    src: &'a S,
    version: u64,
    /// Nodes written at `version`, keyed by `node_key`.
    pub nodes: Vec<(Vec<u8>, Node)>,
    /// Keys of nodes the new version no longer uses.
    pub stale_nodes: Vec<Vec<u8>>,
    pub events: Vec<ValueEvent>,
}

impl<'a, S: NodeSource> Updater<'a, S> {
    pub(crate) fn new(src: &'a S, version: u64) -> Self {
        Updater { src, version, nodes: Vec::new(), stale_nodes: Vec::new(), events: Vec::new() }
    }

    /// Applies `changes` (sorted by key hash, distinct) to the subtree `child` at `depth`, whose keys all share
    /// their first `depth` bits with the changes. Returns the new subtree.
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
                    if let Some(value_hash) = c.value_hash {
                        self.events.push(ValueEvent::Written { index: c.index });
                        leaves.push(Leaf { key_hash: c.key_hash, value_hash, version: self.version });
                    }
                }
                self.build(depth, &leaves)
            }
            Child::Leaf { key_hash, value_hash, version } => {
                let existing = Leaf { key_hash, value_hash, version };
                let mut leaves = Vec::with_capacity(changes.len() + 1);
                let mut pending = true;
                for c in changes {
                    if pending && key_hash < c.key_hash {
                        leaves.push(existing);
                        pending = false;
                    }
                    if c.key_hash == key_hash {
                        pending = false;
                        match c.value_hash {
                            None => {
                                self.events.push(ValueEvent::Superseded { key_hash, version });
                                self.events.push(ValueEvent::Deleted { index: c.index });
                            }
                            Some(vh) if vh == value_hash => leaves.push(existing),
                            Some(vh) => {
                                self.events.push(ValueEvent::Superseded { key_hash, version });
                                self.events.push(ValueEvent::Written { index: c.index });
                                leaves.push(Leaf { key_hash, value_hash: vh, version: self.version });
                            }
                        }
                    } else if let Some(vh) = c.value_hash {
                        self.events.push(ValueEvent::Written { index: c.index });
                        leaves.push(Leaf { key_hash: c.key_hash, value_hash: vh, version: self.version });
                    }
                }
                if pending {
                    leaves.push(existing);
                }
                self.build(depth, &leaves)
            }
            Child::Internal { version, .. } => {
                if depth >= MAX_DEPTH {
                    return Err(corrupt("internal node below the deepest level"));
                }
                let key = node_key(version, depth, &first.key_hash);
                let node = self.src.load(&key)?;
                let split = changes.partition_point(|c| bit(&c.key_hash, depth) == 0);
                let (l, r) = changes.split_at(split);
                let left = self.update(node.left, depth + 1, l)?;
                let right = self.update(node.right, depth + 1, r)?;
                if left == node.left && right == node.right {
                    return Ok(child);
                }
                self.stale_nodes.push(key);
                Ok(self.join(depth, &first.key_hash, left, right))
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
                let split = leaves.partition_point(|l| bit(&l.key_hash, depth) == 0);
                let (l, r) = leaves.split_at(split);
                let left = self.build(depth + 1, l)?;
                let right = self.build(depth + 1, r)?;
                Ok(self.join(depth, &first.key_hash, left, right))
            }
        }
    }

    /// The subtree with these two children, collapsed to canonical form (a lone leaf moves up).
    fn join(&mut self, depth: usize, path: &Hash, left: Child, right: Child) -> Child {
        match (left, right) {
            (Child::Empty, Child::Empty) => Child::Empty,
            (leaf @ Child::Leaf { .. }, Child::Empty) | (Child::Empty, leaf @ Child::Leaf { .. }) => leaf,
            _ => {
                let hash = internal_hash(&left.hash(), &right.hash());
                self.nodes.push((node_key(self.version, depth, path), Node { left, right }));
                Child::Internal { hash, version: self.version }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Leaf {
    key_hash: Hash,
    value_hash: Hash,
    version: u64,
}

impl Leaf {
    fn child(&self) -> Child {
        Child::Leaf { key_hash: self.key_hash, value_hash: self.value_hash, version: self.version }
    }
}

/// Walks from `root` towards `key_hash`, returning the sibling hashes from the root down and the child where
/// the walk stopped (empty, or the leaf occupying the key's path).
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
            return Err(corrupt("internal node below the deepest level"));
        }
        let node = src.load(&node_key(version, depth, key_hash))?;
        if bit(key_hash, depth) == 0 {
            siblings.push(node.right.hash());
            cur = node.left;
        } else {
            siblings.push(node.left.hash());
            cur = node.right;
        }
        depth += 1;
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

    struct MapSource(BTreeMap<Vec<u8>, Node>);

    impl NodeSource for MapSource {
        fn load(&self, key: &[u8]) -> Result<Node, StateError> {
            self.0.get(key).copied().ok_or_else(|| corrupt("missing"))
        }
    }

    fn apply(src: &mut MapSource, root: Child, version: u64, kv: &[(&[u8], Option<&[u8]>)]) -> Child {
        let mut changes: Vec<Change> = kv
            .iter()
            .enumerate()
            .map(|(index, (k, v))| Change { key_hash: key_hash(k), value_hash: v.map(value_hash), index })
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
    fn node_round_trips_and_rejects_garbage() {
        let n = Node {
            left: Child::Leaf { key_hash: Hash([1; 32]), value_hash: Hash([2; 32]), version: 9 },
            right: Child::Internal { hash: Hash([3; 32]), version: 4 },
        };
        assert_eq!(Node::decode(&n.encode()).unwrap(), n);
        let bytes = n.encode();
        assert!(Node::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Node::decode(&[9]).is_err());
        assert!(Node::decode(&[]).is_err());
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
        let mut changes =
            vec![Change { key_hash: key_hash(b"a"), value_hash: Some(value_hash(b"1")), index: 0 }];
        changes.push(Change { key_hash: key_hash(b"zz"), value_hash: None, index: 1 });
        changes.sort_by_key(|c| c.key_hash);
        let mut up = Updater::new(&src, 2);
        let new_root = up.update(root, 0, &changes).unwrap();
        assert_eq!(new_root, root);
        assert!(up.nodes.is_empty() && up.stale_nodes.is_empty() && up.events.is_empty());
    }
}
