//! The run's audit digest: blake3 over every event, fed through a buffer.
//!
//! Every message sent adds ~90 bytes in four small pieces; hashing each piece as it comes spent most of its time
//! in per-call overhead and one-block compressions (~7 % of a 10,000-node run). blake3 is a streaming hash of the
//! concatenated input, so hashing the same bytes in 64 KiB slices (where its SIMD many-chunk path applies) gives
//! exactly the same digest.

/// Bytes gathered before they are handed to blake3.
const FLUSH_AT: usize = 64 * 1024;

/// A blake3 hasher with an input buffer; `hex` equals blake3 of everything passed to `update`, in order.
pub(crate) struct AuditDigest {
    hasher: blake3::Hasher,
    buffer: Vec<u8>,
}

impl Default for AuditDigest {
    fn default() -> Self {
        AuditDigest { hasher: blake3::Hasher::new(), buffer: Vec::with_capacity(FLUSH_AT) }
    }
}

impl AuditDigest {
    pub fn update(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= FLUSH_AT {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
    }

    /// The digest of everything so far, in hex (the state is kept: more updates may follow).
    pub fn hex(&self) -> String {
        let mut h = self.hasher.clone();
        h.update(&self.buffer);
        h.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_equals_direct() {
        let mut direct = blake3::Hasher::new();
        let mut buffered = AuditDigest::default();
        // Pieces of varying sizes, well past several flushes, including ones larger than the buffer.
        for i in 0..20_000u32 {
            let piece: Vec<u8> = (0..(i % 97) as usize + if i % 5_000 == 0 { 100_000 } else { 0 })
                .map(|j| (j as u32 ^ i) as u8)
                .collect();
            direct.update(&piece);
            buffered.update(&piece);
            if i % 4_999 == 0 {
                assert_eq!(buffered.hex(), direct.finalize().to_hex().to_string(), "after piece {i}");
            }
        }
        assert_eq!(buffered.hex(), direct.finalize().to_hex().to_string());
        assert_ne!(buffered.hex(), AuditDigest::default().hex());
    }
}
