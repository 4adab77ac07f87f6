use crate::host;

/// The blake3 hash of `data`, computed by the host (cheaper in fuel than hashing in Wasm).
pub fn blake3(data: &[u8]) -> [u8; 32] {
    host::blake3(data)
}

/// Whether `signature` is a valid raw ed25519 signature of `message` by `public_key` (no cairn domain tag: a
/// module that verifies its own messages should put its own domain into `message`).
pub fn ed25519_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    host::ed25519_verify(public_key, message, signature)
}
