use alloc::string::String;
use alloc::vec::Vec;

use crate::host;

/// An event a module emits: a kind and ordered attributes. Events of a failed call are discarded with its writes.
#[derive(Clone, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Event {
    /// What happened, e.g. `"transfer"`.
    pub kind: String,
    /// Key/value attributes in the order they were added.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// A new event of `kind` with no attributes.
    pub fn new(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), attributes: Vec::new() }
    }

    /// Add an attribute.
    #[must_use]
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Hand the event to the host. Its wire form is borsh `(String, Vec<(String, String)>)`, which is exactly
    /// the borsh of this struct.
    pub fn emit(self) {
        host::emit_event(&self);
    }
}
