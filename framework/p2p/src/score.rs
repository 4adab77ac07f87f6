//! Peer reputation: offences lower a score that slowly recovers; below a threshold the peer is banned for a
//! while. Pure bookkeeping (the caller passes the time), so it is tested without sockets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// What a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// Bytes that do not parse (bad frame kind, trailing bytes, bad gossip payload).
    Malformed,
    /// A message over the size limit.
    Oversized,
    /// A peer of another chain or not a cairn identity.
    WrongNetwork,
    /// The node said so ([`crate::NetworkHandle::report_bad`]): a block or vote that failed a check. Graded,
    /// not a ban at once: an honest peer can trip a check once (a race with our own state, a version skew), a
    /// lying peer does it again and is banned on the second strike within the recovery window.
    Reported,
}

impl Offence {
    fn penalty(self) -> i64 {
        match self {
            Offence::Malformed => 25,
            Offence::Oversized => 50,
            // Two reports within 20 s ban (60 + 60 - 20 of recovery = 100).
            Offence::Reported => 60,
            Offence::WrongNetwork => BAN_THRESHOLD,
        }
    }
}

/// A score at or below `-BAN_THRESHOLD` bans: four malformed or two oversized messages in quick succession.
const BAN_THRESHOLD: i64 = 100;
/// Points recovered per second of good behaviour (so one stray malformed message is forgotten in 25 s).
const RECOVERY_PER_SEC: i64 = 1;
/// Most peers tracked at once; the least-bad entry is forgotten first (a flood of fresh identities cannot
/// grow the table without bound).
const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Entry {
    penalty: i64,
    at: Instant,
}

/// What the network task should do about a peer after an offence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Close the connection; the peer may come back.
    Disconnect,
    /// Close and refuse connections until the given time.
    Ban(Instant),
}

#[derive(Debug)]
pub struct PeerBook {
    entries: HashMap<PeerId, Entry>,
    bans: HashMap<PeerId, Instant>,
    ban_duration: Duration,
}

impl PeerBook {
    pub fn new(ban_duration: Duration) -> PeerBook {
        PeerBook { entries: HashMap::new(), bans: HashMap::new(), ban_duration }
    }

    fn current(entry: &Entry, now: Instant) -> i64 {
        let secs = now.saturating_duration_since(entry.at).as_secs() as i64;
        (entry.penalty - secs.saturating_mul(RECOVERY_PER_SEC)).max(0)
    }

    /// The peer's current score (0 is clean, negative is bad).
    #[cfg(test)]
    pub fn score(&self, peer: &PeerId, now: Instant) -> i64 {
        self.entries.get(peer).map_or(0, |e| -Self::current(e, now))
    }

    /// Every peer whose score is below 0 (banned peers start clean, so they are not here).
    pub fn scores(&self, now: Instant) -> Vec<(PeerId, i64)> {
        self.entries
            .iter()
            .map(|(p, e)| (*p, -Self::current(e, now)))
            .filter(|(_, score)| *score < 0)
            .collect()
    }

    pub fn offence(&mut self, peer: PeerId, offence: Offence, now: Instant) -> Verdict {
        let before = self.entries.get(&peer).map_or(0, |e| Self::current(e, now));
        let penalty = before.saturating_add(offence.penalty());
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(&peer) {
            self.evict(now);
        }
        self.entries.insert(peer, Entry { penalty, at: now });
        if penalty >= BAN_THRESHOLD {
            let until = now + self.ban_duration;
            self.bans.insert(peer, until);
            // The ban is the punishment; the peer starts clean when it ends.
            self.entries.remove(&peer);
            Verdict::Ban(until)
        } else {
            Verdict::Disconnect
        }
    }

    fn evict(&mut self, now: Instant) {
        let least = self.entries.iter().min_by_key(|(_, e)| Self::current(e, now)).map(|(p, _)| *p);
        if let Some(p) = least {
            self.entries.remove(&p);
        }
    }

    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.bans.get(peer).is_some_and(|until| *until > now)
    }

    /// Ends bans whose time is up and returns those peers (to unblock them in the swarm).
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let done: Vec<PeerId> =
            self.bans.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for p in &done {
            self.bans.remove(p);
        }
        self.entries.retain(|_, e| Self::current(e, now) > 0);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8) -> PeerId {
        crate::identity::peer_id_of(&cairn_primitives::Keypair::derived("score", i.into()).public()).unwrap()
    }

    #[test]
    fn repeated_malformed_messages_lead_to_a_ban_that_expires() {
        let t0 = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(10));
        let p = peer(0);
        for _ in 0..3 {
            assert_eq!(book.offence(p, Offence::Malformed, t0), Verdict::Disconnect);
        }
        assert_eq!(book.score(&p, t0), -75);
        assert_eq!(book.offence(p, Offence::Malformed, t0), Verdict::Ban(t0 + Duration::from_secs(10)));
        assert!(book.is_banned(&p, t0 + Duration::from_secs(9)));
        assert!(book.expire(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(book.expire(t0 + Duration::from_secs(10)), vec![p]);
        assert!(!book.is_banned(&p, t0 + Duration::from_secs(10)));
        assert_eq!(book.score(&p, t0 + Duration::from_secs(10)), 0);
    }

    #[test]
    fn one_report_disconnects_a_second_soon_after_bans() {
        let t0 = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(10));
        let p = peer(3);
        assert_eq!(book.offence(p, Offence::Reported, t0), Verdict::Disconnect, "one strike is not a ban");
        assert!(!book.is_banned(&p, t0));
        assert!(matches!(book.offence(p, Offence::Reported, t0 + Duration::from_secs(5)), Verdict::Ban(_)));
        // Long after (50 s of good behaviour), another report disconnects again without a ban.
        let q = peer(4);
        assert_eq!(book.offence(q, Offence::Reported, t0), Verdict::Disconnect);
        assert_eq!(book.offence(q, Offence::Reported, t0 + Duration::from_secs(50)), Verdict::Disconnect);
    }

    #[test]
    fn scores_recover_and_wrong_networks_ban_at_once() {
        let t0 = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(10));
        let (a, b) = (peer(1), peer(2));
        assert_eq!(book.offence(a, Offence::Oversized, t0), Verdict::Disconnect);
        assert_eq!(book.score(&a, t0 + Duration::from_secs(20)), -30);
        // Recovered enough that a second oversized message does not ban.
        assert_eq!(book.offence(a, Offence::Oversized, t0 + Duration::from_secs(20)), Verdict::Disconnect);
        assert!(matches!(book.offence(b, Offence::WrongNetwork, t0), Verdict::Ban(_)));
        assert!(book.is_banned(&b, t0));
        assert!(!book.is_banned(&a, t0));
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let mut book = PeerBook::new(Duration::from_secs(10));
        for _ in 0..(MAX_TRACKED + 10) {
            let id = crate::identity::peer_id_of(&cairn_primitives::Keypair::generate().public()).unwrap();
            book.offence(id, Offence::Malformed, t0);
        }
        assert!(book.entries.len() <= MAX_TRACKED);
    }
}
