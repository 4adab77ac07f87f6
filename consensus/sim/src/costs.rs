//! Processing costs, so reported latencies include what a node spends besides waiting on links: CPU time to
//! sign and verify signatures and to build and check payloads (one serial CPU per node), and the time a
//! node's uplink needs to put bytes on the wire (a broadcast to `n - 1` peers is `n - 1` sends in a row).
//! Times are kept in microseconds per node; events still fire on whole milliseconds (rounded to the nearest).

use cairn_consensus::Time;
use serde::Serialize;

/// What things cost a simulated node. `Costs::default()`: ed25519 sign 21 µs and verify 54 µs, the CPU time
/// measured on the 2-core development box (`cargo run --release -p cairn-sim --example ed25519_cost`,
/// 2026-12-04); 1 ms to build and 1 ms to check a block (an assumption: small blocks of simple transfers);
/// 1 Gbit/s uplinks; block bodies of 0 bytes (set `block_bytes` to charge them). `Costs::free()` is the
/// first simulator's zero-cost model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Costs {
    /// One ed25519 signature.
    pub sign_us: u64,
    /// One ed25519 verification (a certificate of `k` signers costs `k` of them).
    pub verify_us: u64,
    /// Building a block (PrepareProposal).
    pub build_payload_us: u64,
    /// Checking a peer's block (ProcessProposal).
    pub verify_payload_us: u64,
    /// Uplink of every node in bits per second (0 = unlimited).
    pub uplink_bps: u64,
    /// Bytes of a block body, carried by every proposal on the wire (the simulated messages carry only ids).
    pub block_bytes: u64,
}

impl Default for Costs {
    fn default() -> Costs {
        Costs {
            sign_us: 21,
            verify_us: 54,
            build_payload_us: 1_000,
            verify_payload_us: 1_000,
            uplink_bps: 1_000_000_000,
            block_bytes: 0,
        }
    }
}

impl Costs {
    /// Nothing costs anything: the model of the first simulator (finality exactly 3δ on a quiet network).
    pub fn free() -> Costs {
        Costs {
            sign_us: 0,
            verify_us: 0,
            build_payload_us: 0,
            verify_payload_us: 0,
            uplink_bps: 0,
            block_bytes: 0,
        }
    }
}

/// What processing one incoming message takes, as the protocol estimates it from the bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Signatures to verify.
    pub verifies: u32,
    /// The message carries a block body (`Costs::block_bytes` more on the wire).
    pub carries_block: bool,
}

/// One node's CPU and uplink, in microseconds of virtual time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    cpu_free_us: u64,
    uplink_free_us: u64,
}

/// Events fire on whole milliseconds: round to the nearest one (rounding up would add up to 1 ms per hop, and
/// turn every delivery into two events).
fn to_ms(us: u64) -> Time {
    us.saturating_add(500) / 1_000
}

impl Clock {
    /// Runs `work_us` of CPU, starting no earlier than `now`; returns the millisecond it is done.
    pub fn run(&mut self, now: Time, work_us: u64) -> Time {
        let start = self.cpu_free_us.max(now.saturating_mul(1_000));
        self.cpu_free_us = start.saturating_add(work_us);
        to_ms(self.cpu_free_us).max(now)
    }

    /// Puts `bytes` on the uplink once the CPU has finished what it is doing; returns the millisecond the
    /// last bit left.
    pub fn send(&mut self, now: Time, bytes: u64, uplink_bps: u64) -> Time {
        let start = self.uplink_free_us.max(self.cpu_free_us).max(now.saturating_mul(1_000));
        let wire_us = bytes.saturating_mul(8_000_000).checked_div(uplink_bps).unwrap_or(0);
        self.uplink_free_us = start.saturating_add(wire_us);
        to_ms(self.uplink_free_us).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_uplink_queue_up() {
        let mut c = Clock::default();
        assert_eq!(c.run(10, 0), 10);
        assert_eq!(c.run(10, 300), 10, "0.3 ms of work is done within ms 10");
        assert_eq!(c.run(10, 1_200), 12, "queued behind it: 11.5 ms rounds to 12");
        assert_eq!(c.run(10, 400), 12, "queued behind both: done at 11.9 ms");
        // 125 kB at 1 Gbit/s is 1 ms on the wire, after the CPU is free (11.9 ms).
        assert_eq!(c.send(10, 125_000, 1_000_000_000), 13);
        assert_eq!(c.send(10, 125_000, 1_000_000_000), 14);
        // Free costs change nothing.
        let mut c = Clock::default();
        assert_eq!((c.run(7, 0), c.send(7, 1 << 20, 0)), (7, 7));
    }
}
