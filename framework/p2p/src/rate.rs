//! Per-peer fair share of the node's attention: a token bucket per sender, so one flooding peer cannot fill
//! the event queue that every honest peer's messages share. Excess messages are dropped and counted.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

/// Most senders tracked; beyond it, buckets that have refilled completely are forgotten first, then all
/// (a forgotten sender simply starts with a full bucket).
const MAX_TRACKED: usize = 4096;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: HashMap<PeerId, Bucket>,
}

impl RateLimiter {
    /// `per_sec` messages per second sustained, bursts of up to one second's worth.
    pub fn new(per_sec: u32) -> RateLimiter {
        let per_sec = f64::from(per_sec.max(1));
        RateLimiter { per_sec, burst: per_sec, buckets: HashMap::new() }
    }

    /// Whether `peer` may have one more message now.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&peer) {
            self.forget_full(now);
            if self.buckets.len() >= MAX_TRACKED {
                self.buckets.clear();
            }
        }
        let (per_sec, burst) = (self.per_sec, self.burst);
        let b = self.buckets.entry(peer).or_insert(Bucket { tokens: burst, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops buckets that are full again (their peers are indistinguishable from new ones).
    pub fn forget_full(&mut self, now: Instant) {
        let (per_sec, burst) = (self.per_sec, self.burst);
        self.buckets
            .retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(i: u64) -> PeerId {
        crate::identity::peer_id_of(&cairn_primitives::Keypair::derived("rate", i).public()).unwrap()
    }

    #[test]
    fn a_flooding_peer_is_cut_to_its_rate_and_others_are_unaffected() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(100);
        let (flood, calm) = (peer(0), peer(1));
        let allowed = (0..1000).filter(|_| r.allow(flood, t0)).count();
        assert_eq!(allowed, 100, "one second's burst");
        assert!(r.allow(calm, t0));
        // Half a second later, half a second's worth more.
        let later = t0 + Duration::from_millis(500);
        assert_eq!((0..1000).filter(|_| r.allow(flood, later)).count(), 50);
        // Full buckets are forgotten; partly used ones kept.
        r.forget_full(t0 + Duration::from_secs(5));
        assert!(r.buckets.is_empty());
    }
}
