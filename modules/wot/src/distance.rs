//! The distance rule, as pure functions over the compact graph (no storage), so it is tested and measured
//! without a host.
//!
//! Referees are members that have issued and received at least ⌈M^(1/D')⌉ certifications. A newcomer passes if
//! at least X % of referees reach it within D steps, a step being one certification (referee → … → newcomer).
//! The search runs backwards from the newcomer over received certifications, breadth first, at most D levels:
//! each member and each certification is visited at most once, so the work is O(members + certifications),
//! bounded by `max_members · max_issued`.

use alloc::vec;
use alloc::vec::Vec;

/// One member in the compact graph: what the distance rule needs and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Node {
    /// Certifications this member has issued (to members and newcomers).
    pub issued: u32,
    /// Member indices of the members that certify this one.
    pub certifiers: Vec<u32>,
}

/// ⌈m^(1/root)⌉: the smallest t with t^root ≥ m (1 for m ≤ 1 or root = 0), in integers.
pub fn referee_threshold(members: u32, root: u32) -> u32 {
    if members <= 1 || root == 0 {
        return 1;
    }
    let reaches = |t: u32| -> bool {
        let mut acc: u64 = 1;
        for _ in 0..root {
            acc = acc.saturating_mul(u64::from(t));
            if acc >= u64::from(members) {
                return true;
            }
        }
        acc >= u64::from(members)
    };
    // t ≤ m always works; binary search the smallest.
    let (mut lo, mut hi) = (1u32, members);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Whether a member is a referee at `threshold`.
pub fn is_referee(node: &Node, threshold: u32) -> bool {
    node.issued >= threshold && node.certifiers.len() as u64 >= u64::from(threshold)
}

/// (referees, referees reaching the newcomer within `max_steps`), for a newcomer certified by the members at
/// `certifiers`. `nodes` is indexed by member index (`None`: a free index).
pub fn reach(nodes: &[Option<Node>], certifiers: &[u32], threshold: u32, max_steps: u32) -> (u32, u32) {
    let referees = nodes.iter().flatten().filter(|n| is_referee(n, threshold)).count() as u32;
    let mut seen = vec![false; nodes.len()];
    let mut reached = 0u32;
    let mut frontier: Vec<u32> = Vec::new();
    let visit = |i: u32, seen: &mut Vec<bool>, next: &mut Vec<u32>, reached: &mut u32| {
        let Some(Some(node)) = nodes.get(i as usize) else { return };
        if seen[i as usize] {
            return;
        }
        seen[i as usize] = true;
        if is_referee(node, threshold) {
            *reached += 1;
        }
        next.push(i);
    };
    for &c in certifiers {
        visit(c, &mut seen, &mut frontier, &mut reached);
    }
    for _ in 1..max_steps {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for &i in &frontier {
            if let Some(Some(node)) = nodes.get(i as usize) {
                for &c in &node.certifiers {
                    visit(c, &mut seen, &mut next, &mut reached);
                }
            }
        }
        frontier = next;
    }
    (referees, reached)
}

/// Whether `reached` of `referees` meets `min_pct` per cent (no referees: nothing to be far from, it passes).
pub fn passes(referees: u32, reached: u32, min_pct: u32) -> bool {
    referees == 0 || u64::from(reached) * 100 >= u64::from(min_pct) * u64::from(referees)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_ceiling_root() {
        assert_eq!(referee_threshold(0, 5), 1);
        assert_eq!(referee_threshold(1, 5), 1);
        assert_eq!(referee_threshold(2, 5), 2);
        assert_eq!(referee_threshold(32, 5), 2);
        assert_eq!(referee_threshold(33, 5), 3);
        assert_eq!(referee_threshold(8_173, 5), 7, "Ğ1's 2023 figure (shared notes)");
        assert_eq!(referee_threshold(10_000, 5), 7);
        assert_eq!(referee_threshold(u32::MAX, 1), u32::MAX);
    }

    fn node(issued: u32, certifiers: &[u32]) -> Option<Node> {
        Some(Node { issued, certifiers: certifiers.to_vec() })
    }

    #[test]
    fn reach_counts_referees_within_the_step_limit() {
        // A chain 0 → 1 → 2 → newcomer; everyone a referee at threshold 1 except where noted.
        let nodes = vec![node(1, &[2]), node(1, &[0]), node(1, &[1])];
        assert_eq!(reach(&nodes, &[2], 1, 1), (3, 1));
        assert_eq!(reach(&nodes, &[2], 1, 2), (3, 2));
        assert_eq!(reach(&nodes, &[2], 1, 3), (3, 3));
        // Threshold 2: nobody qualifies.
        assert_eq!(reach(&nodes, &[2], 2, 3), (0, 0));
        assert!(passes(0, 0, 80));
        assert!(passes(5, 4, 80));
        assert!(!passes(5, 3, 80));
    }
}
