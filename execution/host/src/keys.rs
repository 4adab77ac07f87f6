//! Layout of the host's keys in state. Each family starts with its own byte, so families never overlap:
//!
//! | key | value |
//! |---|---|
//! | `m` ‖ address(32) ‖ module key | a module's own storage |
//! | `c` ‖ code id(32) | borsh `CodeMeta` (length, chunk count) |
//! | `C` ‖ code id(32) ‖ chunk(u32 BE) | ≤ 64 KiB of the code bytes (values are bounded by the state store) |
//! | `i` ‖ address(32) | borsh `InstanceInfo` |
//! | `l` ‖ label | address(32) |
//! | `e` ‖ address(32) | empty: the instance exports `end_block` |
//! | `n` ‖ public key(32) | borsh `u64`: the sender's next nonce |
//! | `k` ‖ creator(32) | borsh `u64`: instances created by this creator |
//! | `p` | borsh `Params` |
//! | `v` ‖ public key(32) | borsh `u64`: the chain's validator set as the host returned it (power > 0) |
//! | `s` ‖ address(32) ‖ public key(32) | borsh `u64`: a Sybil module's set as it reported it (power > 0) |
//! | `w` | borsh `SybilSwitch`: the Sybil module switch governance scheduled |
//! | `x` | borsh `ConsensusParams`: the consensus parameters in force (genesis, then governance) |
//! | `d` ‖ blake3(key)(32) | borsh `DepositRecord`: who holds the storage deposit of `key`, for how many bytes |
//! | `q` ‖ account(32) | borsh `Quota`: the account's free fuel and bytes per window (genesis) |
//! | `u` ‖ account(32) | borsh `QuotaUse`: what the account used of its quota in its latest window |

use cairn_primitives::{Address, Hash};

pub fn module_key(contract: &Address, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33 + key.len());
    k.push(b'm');
    k.extend_from_slice(&contract.0);
    k.extend_from_slice(key);
    k
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn with32(tag: u8, bytes: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(tag);
    k.extend_from_slice(bytes);
    k
}

pub fn code_meta(id: &Hash) -> Vec<u8> {
    with32(b'c', &id.0)
}

pub fn code_chunk(id: &Hash, chunk: u32) -> Vec<u8> {
    let mut k = with32(b'C', &id.0);
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

pub fn instance(addr: &Address) -> Vec<u8> {
    with32(b'i', &addr.0)
}

pub fn label(label: &str) -> Vec<u8> {
    let mut k = vec![b'l'];
    k.extend_from_slice(label.as_bytes());
    k
}

pub const END_BLOCK_PREFIX: u8 = b'e';

pub fn end_block(addr: &Address) -> Vec<u8> {
    with32(END_BLOCK_PREFIX, &addr.0)
}

pub fn nonce(pk: &[u8; 32]) -> Vec<u8> {
    with32(b'n', pk)
}

pub fn counter(creator: &Address) -> Vec<u8> {
    with32(b'k', &creator.0)
}

pub const PARAMS: &[u8] = b"p";

pub const VALIDATOR_PREFIX: u8 = b'v';

pub fn validator(pk: &[u8; 32]) -> Vec<u8> {
    with32(VALIDATOR_PREFIX, pk)
}

/// Prefix of `module`'s reported set.
pub fn sybil_set(module: &Address) -> Vec<u8> {
    with32(b's', &module.0)
}

pub const SYBIL_SWITCH: &[u8] = b"w";
pub const CONSENSUS_PARAMS: &[u8] = b"x";
pub fn deposit(key: &[u8]) -> Vec<u8> {
    with32(b'd', &Hash::digest(key).0)
}

pub fn quota(account: &Address) -> Vec<u8> {
    with32(b'q', &account.0)
}

pub fn quota_use(account: &Address) -> Vec<u8> {
    with32(b'u', &account.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
