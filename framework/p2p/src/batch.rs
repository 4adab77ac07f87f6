//! Transactions travel in batches: one gossip message carries every tx submitted within a couple of
//! milliseconds. Each gossip message costs an ed25519 signature at its author and a verification per copy at
//! every receiver, so one tx per message would cap a 2-core node at a few thousand tx/s; batching makes that
//! cost per batch. Receivers unpack a batch into one [`crate::NetEvent::Gossip`] per tx, so the node never
//! sees the batching.
//!
//! Wire: `u32 BE count ‖ (u32 BE length ‖ bytes) × count`, parsed strictly (no trailing bytes, no zero-length
//! claims beyond the input).

use std::time::Instant;

/// Bytes of framing per batch and per item.
pub const BATCH_HEADER: usize = 4;
pub const ITEM_HEADER: usize = 4;

/// Txs waiting to be gossiped.
#[derive(Debug, Default)]
pub struct TxBatch {
    buf: Vec<u8>,
    count: u32,
    /// When the oldest queued tx must leave.
    pub deadline: Option<Instant>,
}

impl TxBatch {
    /// Bytes the batch would have on the wire with `item` added.
    pub fn size_with(&self, item: usize) -> usize {
        BATCH_HEADER + self.buf.len() + ITEM_HEADER + item
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn len_bytes(&self) -> usize {
        BATCH_HEADER + self.buf.len()
    }

    pub fn push(&mut self, item: &[u8], deadline: Instant) {
        // Items are bounded by the topic limit (checked by the caller), far below 4 GiB.
        self.buf.extend_from_slice(&(item.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(item);
        self.count += 1;
        self.deadline.get_or_insert(deadline);
    }

    /// The encoded batch, leaving this one empty.
    pub fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.append(&mut self.buf);
        self.count = 0;
        self.deadline = None;
        out
    }
}

/// Splits a received batch into its txs.
pub fn unpack(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let (count, mut rest) = split_u32(data).ok_or("batch shorter than its header")?;
    // Every item needs at least its 4-byte header: bounds the allocation by the input's size.
    if count as usize > rest.len() / ITEM_HEADER {
        return Err(format!("batch claims {count} txs in {} bytes", rest.len()));
    }
    let mut items = Vec::with_capacity(count as usize);
    for i in 0..count {
        let (len, after) = split_u32(rest).ok_or_else(|| format!("tx {i} has no length"))?;
        let item = after
            .get(..len as usize)
            .ok_or_else(|| format!("tx {i} claims {len} bytes, {} left", after.len()))?;
        items.push(item.to_vec());
        rest = after.get(len as usize..).unwrap_or_default();
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last tx", rest.len()));
    }
    Ok(items)
}

fn split_u32(data: &[u8]) -> Option<(u32, &[u8])> {
    let head: [u8; 4] = data.get(..4)?.try_into().ok()?;
    Some((u32::from_be_bytes(head), data.get(4..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip() {
        let now = Instant::now();
        let mut b = TxBatch::default();
        assert!(b.is_empty());
        let items: Vec<Vec<u8>> = vec![b"a".to_vec(), Vec::new(), vec![7; 300]];
        for it in &items {
            let expected = b.size_with(it.len());
            b.push(it, now);
            assert_eq!(b.len_bytes(), expected);
        }
        assert_eq!(b.deadline, Some(now));
        let wire = b.take();
        assert!(b.is_empty() && b.deadline.is_none());
        assert_eq!(unpack(&wire).unwrap(), items);
        assert_eq!(unpack(&b.take()).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn malformed_batches_are_refused() {
        assert!(unpack(&[]).is_err());
        assert!(unpack(&[0, 0, 0]).is_err());
        // A count the input cannot hold is refused before allocating for it.
        assert!(unpack(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).unwrap_err().contains("claims"));
        // An item longer than what follows.
        assert!(unpack(&[0, 0, 0, 1, 0, 0, 0, 9, 1]).is_err());
        // Trailing bytes.
        assert!(unpack(&[0, 0, 0, 1, 0, 0, 0, 1, 5, 6]).unwrap_err().contains("after the last"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = unpack(&data);
        }

        #[test]
        fn any_batch_round_trips(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..32)) {
            let mut b = TxBatch::default();
            for it in &items {
                b.push(it, Instant::now());
            }
            prop_assert_eq!(unpack(&b.take()).unwrap(), items);
        }
    }
}
