//! Typed storage over the module's private key space.
//!
//! Layout (what a raw-state query or a proof sees): an [`Item`] lives at its key as given; a [`Map`] entry lives
//! at `len(prefix) as u16 BE ‖ prefix ‖ encoded key`. The length prefix keeps one map's namespace from ever being
//! a prefix of another's (`"bal"` vs `"balance"`), and keys are encoded so that byte order is key order, which is
//! what makes [`Map::range`] ordered.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::env::hex;
use crate::error::Error;
use crate::host;

/// A map key: encoded so that the byte order of encodings is the order of keys.
pub trait Key: Sized {
    /// Append this key's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decode a whole encoding; `None` if `bytes` is not one.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// A key whose encoding always has the same length, so it can be the first part of a tuple key.
pub trait FixedKey: Key {
    /// The encoding's length in bytes.
    const LEN: usize;
}

impl<const N: usize> Key for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok()
    }
}
impl<const N: usize> FixedKey for [u8; N] {
    const LEN: usize = N;
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        /// Big-endian, so that byte order is numeric order.
        impl Key for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                Some(<$t>::from_be_bytes(bytes.try_into().ok()?))
            }
        }
        impl FixedKey for $t {
            const LEN: usize = core::mem::size_of::<$t>();
        }
    )*};
}
int_key!(u8, u16, u32, u64, u128);

/// Raw bytes; only as the last part of a key (its length is implied by the end of the key).
impl Key for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

/// UTF-8 bytes; only as the last part of a key.
impl Key for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// A composite key, ordered by `A` then `B`.
impl<A: FixedKey, B: Key> Key for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < A::LEN {
            return None;
        }
        let (a, b) = bytes.split_at(A::LEN);
        Some((A::decode(a)?, B::decode(b)?))
    }
}

fn encode_value<T: BorshSerialize>(value: &T, what: &dyn core::fmt::Display) -> Result<Vec<u8>, Error> {
    borsh::to_vec(value).map_err(|e| Error::new(format!("could not encode {what}: {e}")))
}

fn decode_value<T: BorshDeserialize>(bytes: &[u8], what: &dyn core::fmt::Display) -> Result<T, Error> {
    T::try_from_slice(bytes).map_err(|e| Error::new(format!("corrupt value in storage at {what}: {e}")))
}

/// Displays a storage key as text when it is printable, else as hex.
struct KeyName<'a>(&'a [u8]);

impl core::fmt::Display for KeyName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match core::str::from_utf8(self.0) {
            Ok(s) if s.bytes().all(|b| b.is_ascii_graphic()) => write!(f, "key \"{s}\""),
            _ => write!(f, "key 0x{}", hex(self.0)),
        }
    }
}

/// A single borsh value at a fixed key, e.g. a module's config or a counter.
pub struct Item<T> {
    key: &'static [u8],
    _value: PhantomData<fn() -> T>,
}

impl<T: BorshSerialize + BorshDeserialize> Item<T> {
    /// An item stored at `key` (at most 256 bytes, the host's key limit).
    pub const fn new(key: &'static [u8]) -> Self {
        Self { key, _value: PhantomData }
    }

    /// The value, or `None` if it was never saved (or was removed).
    pub fn may_load(&self) -> Result<Option<T>, Error> {
        host::storage_get(self.key).map(|bytes| decode_value(&bytes, &KeyName(self.key))).transpose()
    }

    /// The value; an error naming the key if it is absent.
    pub fn load(&self) -> Result<T, Error> {
        self.may_load()?.ok_or_else(|| Error::new(format!("nothing stored at {}", KeyName(self.key))))
    }

    /// Store `value`.
    pub fn save(&self, value: &T) -> Result<(), Error> {
        host::storage_set(self.key, &encode_value(value, &KeyName(self.key))?);
        Ok(())
    }

    /// Delete the value (a no-op if absent).
    pub fn remove(&self) {
        host::storage_remove(self.key);
    }

    /// Whether a value is stored.
    pub fn exists(&self) -> bool {
        host::storage_get(self.key).is_some()
    }
}

/// A typed map from `K` to borsh `V` under a namespace `prefix`, iterable in key order.
pub struct Map<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: BorshSerialize + BorshDeserialize> Map<K, V> {
    /// A map under `prefix` (keep it short: prefix and key together must fit the host's 256-byte key limit).
    pub const fn new(prefix: &'static [u8]) -> Self {
        Self { prefix, _types: PhantomData }
    }

    fn namespace(&self) -> Vec<u8> {
        let mut ns = Vec::with_capacity(2 + self.prefix.len() + 32);
        // A prefix longer than u16::MAX could never be stored anyway (the host's key limit is 256 bytes).
        ns.extend_from_slice(&(self.prefix.len() as u16).to_be_bytes());
        ns.extend_from_slice(self.prefix);
        ns
    }

    fn storage_key(&self, key: &K) -> Vec<u8> {
        let mut k = self.namespace();
        key.encode(&mut k);
        k
    }

    /// The value at `key`, or `None`.
    pub fn may_load(&self, key: &K) -> Result<Option<V>, Error> {
        let k = self.storage_key(key);
        host::storage_get(&k).map(|bytes| decode_value(&bytes, &KeyName(&k))).transpose()
    }

    /// The value at `key`; an error naming the map and key if it is absent.
    pub fn load(&self, key: &K) -> Result<V, Error> {
        let k = self.storage_key(key);
        match host::storage_get(&k) {
            Some(bytes) => decode_value(&bytes, &KeyName(&k)),
            None => Err(Error::new(format!("nothing stored at {}", KeyName(&k)))),
        }
    }

    /// Store `value` at `key`.
    pub fn save(&self, key: &K, value: &V) -> Result<(), Error> {
        let k = self.storage_key(key);
        let bytes = encode_value(value, &KeyName(&k))?;
        host::storage_set(&k, &bytes);
        Ok(())
    }

    /// Delete the entry at `key` (a no-op if absent).
    pub fn remove(&self, key: &K) {
        host::storage_remove(&self.storage_key(key));
    }

    /// Whether an entry exists at `key`.
    pub fn has(&self, key: &K) -> bool {
        host::storage_get(&self.storage_key(key)).is_some()
    }

    /// Entries with `min ≤ key < max` (either bound optional), in key order.
    ///
    /// Each step asks the host for the next entry after the last one seen, so the map may be changed while
    /// iterating: entries removed ahead are skipped, entries inserted ahead are seen.
    pub fn range(&self, min: Option<&K>, max: Option<&K>) -> Range<K, V> {
        let ns = self.namespace();
        let start = min.map_or_else(|| ns.clone(), |k| self.storage_key(k));
        let end = match max {
            Some(k) => self.storage_key(k),
            None => prefix_successor(&ns),
        };
        Range { namespace_len: ns.len(), start, end, done: false, _types: PhantomData }
    }

    /// All entries in key order.
    pub fn iter(&self) -> Range<K, V> {
        self.range(None, None)
    }

    /// Delete every entry; returns how many there were.
    pub fn clear(&self) -> Result<usize, Error> {
        let mut n = 0;
        let ns = self.namespace();
        let end = prefix_successor(&ns);
        let mut start = ns;
        while let Some((key, _)) = host::storage_next(&start, &end) {
            host::storage_remove(&key);
            start = key;
            n += 1;
        }
        Ok(n)
    }
}

/// The smallest byte string greater than every string starting with `prefix` (empty: no upper bound, which the
/// host's `storage_next` reads as "unbounded").
fn prefix_successor(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    end
}

/// An iterator over a [`Map`]'s entries, from [`Map::range`] or [`Map::iter`].
pub struct Range<K, V> {
    namespace_len: usize,
    start: Vec<u8>,
    end: Vec<u8>,
    done: bool,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: BorshDeserialize> Iterator for Range<K, V> {
    type Item = Result<(K, V), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some((key, value)) = host::storage_next(&self.start, &self.end) else {
            self.done = true;
            return None;
        };
        self.start.clear();
        self.start.extend_from_slice(&key);
        self.start.push(0);
        let item = match key.get(self.namespace_len..).and_then(K::decode) {
            Some(k) => decode_value(&value, &KeyName(&key)).map(|v| (k, v)),
            None => Err(Error::new(format!("undecodable map key in storage at {}", KeyName(&key)))),
        };
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}
