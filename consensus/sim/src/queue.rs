//! The event queue: a calendar of one-millisecond buckets over a sliding window, with a binary heap for events
//! beyond it. Pops in exactly the order of a binary heap on (time, sequence number) — same runs, same digests —
//! but without a heap's O(log n) cache misses per event, which dominated 10,000-node runs.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use cairn_consensus::Time;

/// Width of the calendar in milliseconds (a power of two). Messages and poll timers land inside it.
const WINDOW: u64 = 4096;
/// Storage of drained buckets kept for reuse (more than the milliseconds a message is ever in flight).
const SPARE_BUCKETS: usize = 512;
/// Buckets this close to the present receive messages (one-way delays are below it); only they get spare
/// storage. Farther ones hold a few timers and allocate just what those need.
const NEAR: u64 = 256;

/// An item with its time and its global sequence number (sequence numbers increase with every push).
pub struct Timed<T> {
    pub at: Time,
    pub seq: u64,
    pub item: T,
}

impl<T> PartialEq for Timed<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Timed<T> {}
impl<T> PartialOrd for Timed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Timed<T> {
    // Reversed: BinaryHeap is a max-heap, we want the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Invariant: bucket `t % WINDOW` holds the events at time `t` for `t` in `[base, base + WINDOW)`, in sequence
/// order; `overflow` holds every later event. Overflow events move into their bucket as soon as the window
/// reaches them, before any direct push can land there, so buckets stay in sequence order.
pub struct EventQueue<T> {
    buckets: Vec<VecDeque<Timed<T>>>,
    base: Time,
    in_window: usize,
    overflow: BinaryHeap<Timed<T>>,
    /// Emptied buckets' storage. Without it every one of the 4,096 buckets kept the capacity of its busiest
    /// millisecond (≈ 7,000 events at 10,000 nodes: gigabytes, and fresh pages the kernel had to zero); with it
    /// only the buckets holding events at once own storage.
    spare: Vec<VecDeque<Timed<T>>>,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            buckets: (0..WINDOW).map(|_| VecDeque::new()).collect(),
            base: 0,
            in_window: 0,
            overflow: BinaryHeap::new(),
            spare: Vec::new(),
        }
    }
}

impl<T> EventQueue<T> {
    /// Adds an event; `at` below the current time is treated as now.
    pub fn push(&mut self, at: Time, seq: u64, item: T) {
        let at = at.max(self.base);
        if at < self.base + WINDOW {
            self.bucket(at).push_back(Timed { at, seq, item });
            self.in_window += 1;
        } else {
            self.overflow.push(Timed { at, seq, item });
        }
    }

    /// The bucket of time `at`. A near bucket with less storage than a spare takes the spare (its few events
    /// move along, in order), so busy milliseconds reuse storage instead of growing fresh allocations.
    fn bucket(&mut self, at: Time) -> &mut VecDeque<Timed<T>> {
        let i = (at % WINDOW) as usize;
        if at < self.base + NEAR
            && self.spare.last().is_some_and(|s| s.capacity() > self.buckets[i].capacity())
            && let Some(mut storage) = self.spare.pop()
        {
            storage.extend(self.buckets[i].drain(..));
            self.buckets[i] = storage;
        }
        &mut self.buckets[i]
    }

    /// Moves the storage of the (empty) bucket `i` to the spares if it is worth keeping.
    fn recycle(&mut self, i: usize) {
        if self.buckets[i].capacity() >= 64 && self.spare.len() < SPARE_BUCKETS {
            self.spare.push(std::mem::take(&mut self.buckets[i]));
        }
    }

    fn migrate(&mut self) {
        while self.overflow.peek().is_some_and(|e| e.at < self.base + WINDOW) {
            if let Some(e) = self.overflow.pop() {
                self.bucket(e.at).push_back(e);
                self.in_window += 1;
            }
        }
    }

    /// The earliest event (ties: the earliest pushed).
    pub fn pop(&mut self) -> Option<Timed<T>> {
        loop {
            if self.in_window == 0 {
                let next = self.overflow.peek()?.at;
                self.base = self.base.max(next);
                self.migrate();
                continue;
            }
            if let Some(e) = self.buckets[(self.base % WINDOW) as usize].pop_front() {
                self.in_window -= 1;
                return Some(e);
            }
            self.recycle((self.base % WINDOW) as usize);
            self.base += 1;
            self.migrate();
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn pops_like_a_binary_heap() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut q = EventQueue::default();
        let mut heap = BinaryHeap::new();
        let mut seq = 0;
        let mut now = 0;
        for round in 0..20_000 {
            for _ in 0..rng.gen_range(0..3) {
                seq += 1;
                let at =
                    now + if rng.gen_bool(0.1) { rng.gen_range(0..20_000) } else { rng.gen_range(0..300) };
                q.push(at, seq, round);
                heap.push(Timed { at, seq, item: round });
            }
            let (a, b) = (q.pop(), heap.pop());
            assert_eq!(a.as_ref().map(|e| (e.at, e.seq)), b.as_ref().map(|e| (e.at, e.seq)));
            if let Some(e) = a {
                now = e.at;
            }
        }
        while let Some(b) = heap.pop() {
            let a = q.pop().unwrap();
            assert_eq!((a.at, a.seq), (b.at, b.seq));
        }
        assert!(q.pop().is_none());
    }

    /// Bursts of hundreds of events per millisecond, so drained buckets' storage is recycled and handed to near
    /// buckets that already hold events (the spare path); the order must still be the heap's.
    #[test]
    fn recycled_storage_keeps_the_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut q = EventQueue::default();
        let mut heap = BinaryHeap::new();
        let (mut seq, mut now) = (0, 0);
        for round in 0..200_000 {
            let burst = if round % 500 == 0 { 400 } else { rng.gen_range(0..3) };
            for _ in 0..burst {
                seq += 1;
                let at =
                    now + if rng.gen_bool(0.05) { rng.gen_range(0..6_000) } else { rng.gen_range(0..400) };
                q.push(at, seq, round);
                heap.push(Timed { at, seq, item: round });
            }
            let (a, b) = (q.pop(), heap.pop());
            assert_eq!(a.as_ref().map(|e| (e.at, e.seq)), b.as_ref().map(|e| (e.at, e.seq)));
            if let Some(e) = a {
                now = e.at;
            }
        }
        assert!(!q.spare.is_empty(), "drained bursts left storage to reuse");
        while let Some(b) = heap.pop() {
            let a = q.pop().unwrap();
            assert_eq!((a.at, a.seq), (b.at, b.seq));
        }
    }
}
