//! Storage layout and the graph operations every rule is built from.
//!
//! Invariants (checked by the tests): every stored certification was issued by a current member (a member who
//! leaves withdraws its certifications); every stored smith certification by a current smith; `RECEIVED[x]` is the
//! number of certifications `x` holds; a member's node lists exactly the member indices of its certifiers.
//!
//! The distance rule reads the whole web, so the web is also kept in a compact form: members get small indices
//! and their nodes (issued count + certifier indices) are packed [`BUCKET`] to a storage value. Reading 10,000
//! members is then ~313 reads instead of one per certification, and a certification rewrites two buckets.

use alloc::vec;
use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_sdk::{Error, Item, Map, bail};

use crate::distance::Node;
use crate::msg::{Address, Params};

/// Member nodes per storage value of the compact graph.
pub const BUCKET: u32 = 32;

/// A member's record.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Member {
    /// Index in the compact graph.
    pub index: u32,
    pub since: u64,
    /// Height of the last certification it issued (genesis certifications do not count).
    pub last_cert_at: Option<u64>,
    pub issued: u32,
    pub last_smith_cert_at: Option<u64>,
    pub smith_issued: u32,
}

pub const CONFIG: Item<Params> = Item::new(b"config");
pub const VERSION: Item<u32> = Item::new(b"version");
pub const MEMBER_COUNT: Item<u32> = Item::new(b"members");
pub const SMITH_COUNT: Item<u32> = Item::new(b"smiths");
/// One past the highest member index ever used.
pub const NEXT_INDEX: Item<u32> = Item::new(b"next_index");
pub const MEMBERS: Map<Address, Member> = Map::new(b"m");
/// Free member indices, reused smallest first so the compact graph stays dense.
pub const FREE: Map<u32, ()> = Map::new(b"free");
/// Bucket number → [`BUCKET`] member nodes.
pub const GRAPH: Map<u32, Vec<Option<Node>>> = Map::new(b"g");
/// (issuer, receiver) → expires_at.
pub const CERTS: Map<(Address, Address), u64> = Map::new(b"c");
/// (receiver, issuer) → expires_at: who certifies a newcomer, without scanning every issuer.
pub const CERTS_IN: Map<(Address, Address), u64> = Map::new(b"ci");
/// Certifications held, by anyone (members and newcomers).
pub const RECEIVED: Map<Address, u32> = Map::new(b"r");
/// (expires_at, (issuer, receiver)): `end_block` visits only what expires.
pub const EXPIRY: Map<(u64, (Address, Address)), ()> = Map::new(b"x");
pub const SMITHS: Map<Address, ()> = Map::new(b"s");
pub const SMITH_CERTS: Map<(Address, Address), u64> = Map::new(b"sc");
pub const SMITH_RECEIVED: Map<Address, u32> = Map::new(b"sr");
pub const SMITH_EXPIRY: Map<(u64, (Address, Address)), ()> = Map::new(b"sx");
/// Members whose certifications (or smith certifications) dropped below the bar: re-checked by `end_block`.
pub const RECHECK: Map<Address, ()> = Map::new(b"rc");
/// Validator updates not yet returned by `validator_set_updates`.
pub const PENDING: Map<Address, u64> = Map::new(b"p");

pub fn count(map: &Map<Address, u32>, who: &Address) -> Result<u32, Error> {
    Ok(map.may_load(who)?.unwrap_or(0))
}

pub fn set_count(map: &Map<Address, u32>, who: &Address, n: u32) -> Result<(), Error> {
    if n == 0 {
        map.remove(who);
        Ok(())
    } else {
        map.save(who, &n)
    }
}

fn slot(index: u32) -> (u32, usize) {
    (index / BUCKET, (index % BUCKET) as usize)
}

pub fn load_node(index: u32) -> Result<Option<Node>, Error> {
    let (b, i) = slot(index);
    Ok(GRAPH.may_load(&b)?.and_then(|bucket| bucket.get(i).cloned().flatten()))
}

pub fn save_node(index: u32, node: Option<Node>) -> Result<(), Error> {
    let (b, i) = slot(index);
    let mut bucket = GRAPH.may_load(&b)?.unwrap_or_else(|| vec![None; BUCKET as usize]);
    let Some(entry) = bucket.get_mut(i) else { bail!("corrupt graph bucket {b}") };
    *entry = node;
    if bucket.iter().all(Option::is_none) {
        GRAPH.remove(&b);
        Ok(())
    } else {
        GRAPH.save(&b, &bucket)
    }
}

/// Change one member's node in place.
pub fn update_node(index: u32, f: impl FnOnce(&mut Node)) -> Result<(), Error> {
    let Some(mut node) = load_node(index)? else { bail!("corrupt graph: no node for member index {index}") };
    f(&mut node);
    save_node(index, Some(node))
}

/// The whole compact graph, indexed by member index: one storage read per bucket.
pub fn load_graph() -> Result<Vec<Option<Node>>, Error> {
    let len = NEXT_INDEX.may_load()?.unwrap_or(0) as usize;
    let mut nodes = vec![None; len];
    for entry in GRAPH.iter() {
        let (b, bucket) = entry?;
        for (i, node) in bucket.into_iter().enumerate() {
            let index = b as usize * BUCKET as usize + i;
            if let Some(slot) = nodes.get_mut(index) {
                *slot = node;
            }
        }
    }
    Ok(nodes)
}

/// A fresh member index: the smallest free one, else the next.
pub fn take_index() -> Result<u32, Error> {
    if let Some(entry) = FREE.iter().next() {
        let (i, ()) = entry?;
        FREE.remove(&i);
        return Ok(i);
    }
    let next = NEXT_INDEX.may_load()?.unwrap_or(0);
    NEXT_INDEX.save(&(next + 1))?;
    Ok(next)
}

/// Entries of a pair-keyed map whose first address is `first`, in order of the second.
pub fn pairs_of<V: BorshSerialize + BorshDeserialize>(
    map: &Map<(Address, Address), V>,
    first: &Address,
) -> Result<Vec<(Address, V)>, Error> {
    let mut out = Vec::new();
    for entry in map.range(Some(&(*first, [0u8; 32])), None) {
        let ((a, b), v) = entry?;
        if a != *first {
            break;
        }
        out.push((b, v));
    }
    Ok(out)
}
