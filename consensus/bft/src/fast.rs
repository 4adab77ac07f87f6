//! The fast path's rule about nullifications (README, "The fast path").
//!
//! A block is final after two message delays when `Notarize` votes of *all* the weight name it. Such a view may
//! still be nullified (an honest validator that notarized may time out before it sees every vote), so a
//! nullification alone no longer proves that nothing was decided in its view. Each `Nullify` therefore names the
//! block its signer notarized in the view (its claim), and a nullification *binds* the view to a block when the
//! signers that claim something else could all be Byzantine: then that block may have been finalized fast, and
//! a later proposal must re-propose it instead of skipping the view.

use std::collections::BTreeMap;

use cairn_consensus::{Certificate, VoteKind};
use cairn_primitives::{Hash, ValidatorSet};

/// The block a nullification binds its view to, if any: the claimed block `X` such that the weight of the
/// signers that do not claim `X` is below a third of the total (it could all be Byzantine). At most one block
/// qualifies: the certificate holds more than 2/3, so two such blocks would each hold more than 1/3 of it, and
/// each would be the other's "does not claim" weight.
///
/// If a block was finalized fast in the view, every honest signer of every nullification claims it, so every
/// nullification of that view binds to it; that is what keeps the fast path safe.
pub fn binds(cert: &Certificate, validators: &ValidatorSet) -> Option<Hash> {
    if cert.vote.kind != VoteKind::Nullify {
        return None;
    }
    let power = |i: u32| validators.validators().get(i as usize).map_or(0, |v| v.power);
    let signed: u64 = cert.signers.iter().map(|(i, _)| power(*i)).fold(0, u64::saturating_add);
    let mut per_block: BTreeMap<Hash, u64> = BTreeMap::new();
    for (i, block) in &cert.claims {
        let w = per_block.entry(*block).or_default();
        *w = w.saturating_add(power(*i));
    }
    per_block
        .into_iter()
        .find(|(_, claimed)| {
            let others = signed.saturating_sub(*claimed);
            3 * (others as u128) < (validators.total_power() as u128)
        })
        .map(|(block, _)| block)
}

#[cfg(test)]
mod tests {
    use cairn_consensus::Vote;
    use cairn_primitives::{Height, Keypair, Signature, Validator};

    use super::*;

    fn set(powers: &[u64]) -> ValidatorSet {
        let v = powers
            .iter()
            .enumerate()
            .map(|(i, p)| Validator { public_key: Keypair::derived("fast", i as u64).public(), power: *p })
            .collect();
        ValidatorSet::new(v).unwrap()
    }

    /// `claims[i]`: what signer `i` claims (`None`: signed with no claim); signatures are not checked here.
    fn nullification(claims: &[Option<&[u8]>]) -> Certificate {
        let vote = Vote { kind: VoteKind::Nullify, height: Height(1), view: 0, block: Hash::ZERO };
        let mut c =
            Certificate::new(vote, (0..claims.len() as u32).map(|i| (i, Signature([0; 64]))).collect());
        c.claims =
            claims.iter().enumerate().filter_map(|(i, b)| b.map(|b| (i as u32, Hash::digest(b)))).collect();
        c
    }

    #[test]
    fn binds_only_when_the_rest_could_all_be_byzantine() {
        let four = set(&[1, 1, 1, 1]);
        let a: Option<&[u8]> = Some(b"a");
        // Three of four claim `a`: the one that does not could be the Byzantine one.
        assert_eq!(binds(&nullification(&[a, a, a]), &four), Some(Hash::digest(b"a")));
        // Two claim `a`, one claims nothing: 1 < 4/3, still bound (the one could be lying).
        assert_eq!(binds(&nullification(&[a, a, None]), &four), Some(Hash::digest(b"a")));
        // Two and two: each side is at least a third, so some honest validator did not notarize either.
        assert_eq!(binds(&nullification(&[a, a, None, None]), &four), None);
        assert_eq!(binds(&nullification(&[a, Some(b"b"), None]), &four), None);
        assert_eq!(binds(&nullification(&[None, None, None]), &four), None);
    }

    /// Exactly a third claiming otherwise is not "could all be Byzantine" (faulty weight is below a third).
    #[test]
    fn a_third_exactly_does_not_bind() {
        let six = set(&[1, 1, 1, 1, 1, 1]);
        let a: Option<&[u8]> = Some(b"a");
        assert_eq!(binds(&nullification(&[a, a, a, None, None]), &six), None, "2 of 6 is a third");
        assert_eq!(binds(&nullification(&[a, a, a, a, None]), &six), Some(Hash::digest(b"a")));
    }

    #[test]
    fn only_nullifications_bind() {
        let four = set(&[1, 1, 1, 1]);
        let mut c = nullification(&[Some(b"a"), Some(b"a"), Some(b"a")]);
        c.vote.kind = VoteKind::Finalize;
        assert_eq!(binds(&c, &four), None);
    }

    #[test]
    fn weights_count_not_heads() {
        // Total 10: signer 0 (power 7) claims nothing, signers 1 and 2 (power 1 each) claim `a`.
        let weighted = set(&[7, 1, 1, 1]);
        let index_of_power_7 = weighted.validators().iter().position(|v| v.power == 7).unwrap();
        let mut claims: Vec<Option<&[u8]>> = vec![Some(b"a"); 4];
        claims[index_of_power_7] = None;
        assert_eq!(binds(&nullification(&claims), &weighted), None, "7 of 10 claim nothing");
        let mut claims: Vec<Option<&[u8]>> = vec![None; 4];
        claims[index_of_power_7] = Some(b"a");
        // 7 claim `a`, 3 claim nothing: 3 < 10/3, bound.
        assert_eq!(binds(&nullification(&claims), &weighted), Some(Hash::digest(b"a")));
    }
}
