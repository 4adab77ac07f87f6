//! The fuel price of every host call: a chain parameter set at genesis (`prices` in `app_state`), because a price
//! decides whether a tx runs out of fuel — two nodes with different prices would fork. The defaults are the list
//! in docs/HOST_API.md; a chain may raise or lower any of them, never to zero (a free host call is unbounded work
//! per unit of fuel).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Deserialize;

/// Prices in wasmtime fuel units (≈ one per Wasm instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    /// Base price of every host call.
    pub call_base: u64,
    /// Per byte copied between guest memory and the host (keys, values, messages, outputs).
    pub per_byte: u64,
    /// `storage_get`: a state read.
    pub storage_read: u64,
    /// `storage_set`/`storage_remove`: a state write, which also costs Merkle hashing at the end of the block.
    pub storage_write: u64,
    /// Per byte *written* to state (stored forever, hashed into the tree).
    pub storage_write_per_byte: u64,
    /// `storage_next`: a range seek.
    pub storage_next: u64,
    /// `storage_next`: per deletion marker (a key deleted in this block) skipped on the way to the next live key.
    pub storage_next_skip: u64,
    /// `emit_event`.
    pub event: u64,
    /// `ed25519_verify` (~50 µs of CPU).
    pub ed25519: u64,
    /// `blake3` base price (per byte on top).
    pub blake3: u64,
    /// `call` into another module: an instantiation.
    pub module_call: u64,
    /// Instantiating a module for any entry point a tx runs (Instantiate, Execute, Migrate).
    pub entry: u64,
    /// Per byte of uploaded code (compilation).
    pub upload_per_byte: u64,
}

impl Default for Prices {
    fn default() -> Prices {
        Prices {
            call_base: 100,
            per_byte: 1,
            storage_read: 1_000,
            storage_write: 3_000,
            storage_write_per_byte: 10,
            storage_next: 2_000,
            storage_next_skip: 1_000,
            event: 500,
            ed25519: 50_000,
            blake3: 200,
            module_call: 10_000,
            entry: 5_000,
            upload_per_byte: 20,
        }
    }
}

impl Prices {
    /// Every price by its genesis name, mutable: the one list of names (genesis validation, governance, docs).
    fn fields_mut(&mut self) -> [(&'static str, &mut u64); 13] {
        [
            ("call_base", &mut self.call_base),
            ("per_byte", &mut self.per_byte),
            ("storage_read", &mut self.storage_read),
            ("storage_write", &mut self.storage_write),
            ("storage_write_per_byte", &mut self.storage_write_per_byte),
            ("storage_next", &mut self.storage_next),
            ("storage_next_skip", &mut self.storage_next_skip),
            ("event", &mut self.event),
            ("ed25519", &mut self.ed25519),
            ("blake3", &mut self.blake3),
            ("module_call", &mut self.module_call),
            ("entry", &mut self.entry),
            ("upload_per_byte", &mut self.upload_per_byte),
        ]
    }

    /// Every price with its genesis name, for validation and docs.
    pub fn named(&self) -> [(&'static str, u64); 13] {
        let mut copy = *self;
        copy.fields_mut().map(|(name, v)| (name, *v))
    }

    /// Sets the price called `name` (a governance `SetParam` of `prices.<name>`); `false` if there is none.
    pub fn set(&mut self, name: &str, value: u64) -> bool {
        match self.fields_mut().into_iter().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                *v = value;
                true
            }
            None => false,
        }
    }

    /// The first price that is zero, by its genesis name.
    pub fn zero_price(&self) -> Option<&'static str> {
        self.named().into_iter().find(|(_, v)| *v == 0).map(|(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_genesis_object_keeps_the_other_defaults() {
        let p: Prices = serde_json::from_str(r#"{"storage_read": 7}"#).unwrap();
        assert_eq!(p.storage_read, 7);
        assert_eq!(Prices { storage_read: 1_000, ..p }, Prices::default());
        assert!(serde_json::from_str::<Prices>(r#"{"storage_reed": 7}"#).is_err(), "a typo is an error");
    }

    #[test]
    fn every_named_price_can_be_set_by_its_name() {
        for (i, (name, _)) in Prices::default().named().into_iter().enumerate() {
            let mut p = Prices::default();
            assert!(p.set(name, 7_000 + i as u64), "{name}");
            assert_eq!(p.named()[i], (name, 7_000 + i as u64));
            let changed = p.named().iter().zip(Prices::default().named()).filter(|(a, b)| **a != *b).count();
            assert_eq!(changed, 1, "setting {name} changed only it");
        }
        assert!(!Prices::default().set("storage_reed", 1));
    }

    #[test]
    fn zero_prices_are_named() {
        assert_eq!(Prices::default().zero_price(), None);
        assert_eq!(Prices { ed25519: 0, ..Prices::default() }.zero_price(), Some("ed25519"));
    }
}
