//! Protocol parameters, their scaling for small networks, and the safety bound they give.

use cairn_consensus::Time;

use crate::Error;

/// Sampling and timing parameters. Every validator of a chain must use the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Peers sampled per poll (distinct validators, drawn by weight without replacement).
    pub k: u32,
    /// Votes (out of `k`) that switch the preference.
    pub alpha_p: u32,
    /// Votes (out of `k`) that make a poll count toward confidence.
    pub alpha_c: u32,
    /// Consecutive successful polls that finalize.
    pub beta: u32,
    /// Polls in flight at once, each an independent sample; finished polls are applied in issue order, so the
    /// safety bound (k, α, β) does not depend on it. More polls in flight: lower latency, more messages.
    pub concurrent: u32,
    /// A poll still missing answers after this long is closed with the answers it has.
    pub poll_timeout: Time,
    /// Proposer rank `r` of a height builds its block `r × proposer_window` after the height started.
    pub proposer_window: Time,
    /// A height not finalized this long after it started enters the quorum fallback.
    pub fallback_timeout: Time,
    /// A fallback view with no notarization this long is nullified.
    pub view_timeout: Time,
    /// Seats of a height's fallback committee (`committee.rs`); sets of at most this many validators run the
    /// fallback among all of them. 400 seats: P[≥ 1/3 Byzantine seats] = P[Bin(400, 0.2) ≥ 134] ≈ 1.8 × 10⁻¹⁰.
    pub committee_seats: u32,
}

impl Default for Params {
    /// avalanchego's thresholds (k = 20, α = 15, β = 20) with 8 polls in flight (avalanchego keeps 4): β polls
    /// applied in order take ≈ β/concurrent poll times, and at 4 that was 1.3 s of finality on a 50–150 ms network
    /// against 0.82 s at 8, for ≈ 19 % more messages. The safety bound does not change: it depends on k, α, β only
    /// (each poll draws its own sample and finished polls are applied in issue order). Timeouts are sized for
    /// one-way delays up to 150 ms (a poll's 20th answer arrives by ~300 ms).
    fn default() -> Self {
        Params {
            k: 20,
            alpha_p: 15,
            alpha_c: 15,
            beta: 20,
            concurrent: 8,
            poll_timeout: 600,
            proposer_window: 500,
            fallback_timeout: 4_000,
            view_timeout: 1_000,
            committee_seats: 400,
        }
    }
}

/// The thresholds actually used when fewer than `k` other validators exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scaled {
    pub k: u32,
    pub alpha_p: u32,
    pub alpha_c: u32,
}

impl Params {
    /// Checks `k/2 < α_p ≤ α_c ≤ k`, `0 < concurrent ≤ β` and positive timeouts (avalanchego's `Verify`).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::Params(m.into()));
        if self.k == 0 || self.k > 1000 {
            return bad("k must be in 1..=1000");
        }
        if 2 * self.alpha_p <= self.k || self.alpha_p > self.alpha_c || self.alpha_c > self.k {
            return bad("need k/2 < alpha_p <= alpha_c <= k");
        }
        if self.beta == 0 || self.concurrent == 0 || self.concurrent > self.beta {
            return bad("need 0 < concurrent <= beta");
        }
        if self.committee_seats == 0 {
            return bad("committee_seats must be positive");
        }
        if self.poll_timeout == 0 || self.fallback_timeout == 0 || self.view_timeout == 0 {
            return bad("timeouts must be positive");
        }
        Ok(())
    }

    /// With `others` validators besides ourselves, sample `min(k, others)` and keep the thresholds' ratios
    /// (rounded up, and always a strict majority of the sample). A 7-node network samples all 6 others and needs
    /// 5 of them.
    pub fn scaled(&self, others: usize) -> Scaled {
        let k = (others as u32).min(self.k);
        if k == self.k {
            return Scaled { k, alpha_p: self.alpha_p, alpha_c: self.alpha_c };
        }
        let ratio =
            |a: u32| ((u64::from(a) * u64::from(k)).div_ceil(u64::from(self.k)) as u32).max(k / 2 + 1);
        let alpha_p = ratio(self.alpha_p).min(k);
        Scaled { k, alpha_p, alpha_c: ratio(self.alpha_c).clamp(alpha_p, k) }
    }
}

/// `P[X ≥ a]` for `X ~ Binomial(k, p)`.
pub fn binomial_tail(k: u32, p: f64, a: u32) -> f64 {
    let mut total = 0.0;
    for x in a..=k {
        total += choose(k, x) * p.powi(x as i32) * (1.0 - p).powi((k - x) as i32);
    }
    total.min(1.0)
}

fn choose(n: u32, r: u32) -> f64 {
    (0..r).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

/// The frozen-split bound on a safety failure for one decision at one pair of honest nodes.
///
/// Model: Byzantine weight `f` always votes for whichever block helps the attacked node; honest weight is split,
/// a share `s` preferring block A and `1 − s` preferring B. Node P finalizes A only after β consecutive polls
/// with ≥ α_c votes for A, each with probability `q_A(s) = P[Bin(k, (1−f)s + f) ≥ α_c]`; node Q finalizes B
/// with `q_B(s)` likewise. A safety failure needs both; the adversary picks the best split, so the bound is
/// `max_s min(q_A(s), q_B(s))^β`, reached at `s = 1/2`. Binomial sampling (with replacement) over-estimates the
/// hypergeometric tail, so this is conservative for large n. It is the standard heuristic of the Snow papers,
/// not a proof: preferences move between polls, which the frozen split ignores.
pub fn split_failure_bound(k: u32, alpha_c: u32, beta: u32, f: f64) -> f64 {
    let q = binomial_tail(k, (1.0 - f) * 0.5 + f, alpha_c);
    q.powi(beta as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_avalanche_like() {
        let p = Params::default();
        assert!(p.validate().is_ok());
        assert_eq!((p.k, p.alpha_p, p.alpha_c, p.beta, p.concurrent), (20, 15, 15, 20, 8));
    }

    #[test]
    fn rejects_minority_alpha() {
        let p = Params { alpha_p: 10, ..Params::default() };
        assert!(p.validate().is_err());
        let p = Params { alpha_p: 16, alpha_c: 15, ..Params::default() };
        assert!(p.validate().is_err());
        assert!(Params { concurrent: 21, ..Params::default() }.validate().is_err());
    }

    #[test]
    fn small_networks_scale_down() {
        let p = Params::default();
        assert_eq!(p.scaled(6), Scaled { k: 6, alpha_p: 5, alpha_c: 5 });
        assert_eq!(p.scaled(3), Scaled { k: 3, alpha_p: 3, alpha_c: 3 });
        assert_eq!(p.scaled(1), Scaled { k: 1, alpha_p: 1, alpha_c: 1 });
        assert_eq!(p.scaled(100), Scaled { k: 20, alpha_p: 15, alpha_c: 15 });
        for n in 1..40 {
            let s = p.scaled(n);
            assert!(2 * s.alpha_p > s.k && s.alpha_c <= s.k, "n = {n}: {s:?}");
        }
    }

    #[test]
    fn safety_bound_for_defaults() {
        // q = P[Bin(20, 0.6) ≥ 15] ≈ 0.1256; q^20 ≈ 9.6e-19.
        let q = binomial_tail(20, 0.6, 15);
        assert!((q - 0.1256).abs() < 1e-3, "{q}");
        let b = split_failure_bound(20, 15, 20, 0.2);
        assert!(b < 1e-17 && b > 1e-20, "{b}");
        // Fewer polls or a lower threshold are visibly weaker.
        assert!(split_failure_bound(20, 15, 10, 0.2) > 1e-10);
        assert!(split_failure_bound(20, 12, 20, 0.2) > 1e-6);
    }
}
