//! PrepareProposal's choices: each sender's txs in nonce order, without gaps, packed by what they declare so that
//! every tx in it gets the fuel it declares.

use cairn_primitives::{PublicKey, Tx};

use super::block::Budget;
use crate::registry::Params;

/// Puts each sender's txs in nonce order while keeping the slots the sender's txs occupied.
///
/// Gossip can deliver one sender's txs to the proposer out of order; FinalizeBlock requires the exact next nonce,
/// so a block `[n+1, n]` would fail `n+1`. Sorting within the sender's own slots fixes that without favouring any
/// sender over another. Undecodable txs keep their place (they fail alone in FinalizeBlock).
pub(super) fn order_by_sender_nonce(txs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let mut slots: BTreeMap<PublicKey, Vec<(usize, u64)>> = BTreeMap::new();
    for (i, raw) in txs.iter().enumerate() {
        if let Ok(tx) = Tx::from_bytes(raw) {
            slots.entry(tx.body.sender).or_default().push((i, tx.body.nonce));
        }
    }
    let mut order: Vec<usize> = (0..txs.len()).collect();
    for entries in slots.values() {
        let mut by_nonce: Vec<(usize, u64)> = entries.clone();
        by_nonce.sort_by_key(|&(i, nonce)| (nonce, i));
        for (&(slot, _), &(src, _)) in entries.iter().zip(by_nonce.iter()) {
            order[slot] = src;
        }
    }
    let mut taken: Vec<Option<Vec<u8>>> = txs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| taken.get_mut(i).and_then(Option::take)).collect()
}

/// Keeps, per sender, only the run of txs whose nonces continue exactly from the sender's committed next nonce.
///
/// A tx after a gap (its predecessor has not reached this node yet) would fail in FinalizeBlock and be lost; left
/// out of the proposal it stays in the mempool and goes into a later block. Stale nonces and txs that do not
/// decode (which would make ProcessProposal reject the block) are left out as well; recheck evicts them.
pub(super) fn hold_back_nonce_gaps(
    txs: Vec<Vec<u8>>,
    committed_next: impl Fn(&PublicKey) -> u64,
) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let mut expected: BTreeMap<PublicKey, u64> = BTreeMap::new();
    txs.into_iter()
        .filter(|raw| {
            let Ok(tx) = Tx::from_bytes(raw) else { return false };
            let next = expected.entry(tx.body.sender).or_insert_with(|| committed_next(&tx.body.sender));
            if tx.body.nonce == *next {
                *next += 1;
                true
            } else {
                false
            }
        })
        .collect()
}

/// Keeps the txs whose declared fuel (capped by the chain's per-tx limit) fits the block's fuel budget together, in
/// order; once one of a sender's txs is left out, so are that sender's later ones (they would fail on the nonce).
/// What is left out stays in the mempool. Every tx proposed thus gets its whole declared fuel wherever it stands.
/// (Writes are fitted by a dry run, [`super::Inner::fit_to_budgets`]: a bound from fuel alone would be far too
/// loose to fill a block.)
pub(super) fn pack(txs: Vec<Vec<u8>>, params: &Params) -> Vec<Vec<u8>> {
    use std::collections::BTreeSet;
    let mut fuel_left = Budget::of(params).fuel;
    let mut cut: BTreeSet<PublicKey> = BTreeSet::new();
    txs.into_iter()
        .filter(|raw| {
            let Ok(tx) = Tx::from_bytes(raw) else { return false };
            if cut.contains(&tx.body.sender) {
                return false;
            }
            let fuel = tx.body.fuel_limit.min(params.max_tx_fuel);
            if fuel > fuel_left {
                cut.insert(tx.body.sender);
                return false;
            }
            fuel_left -= fuel;
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Keypair, TxBody};

    use super::*;

    fn tx(key: &Keypair, nonce: u64) -> Vec<u8> {
        let body = TxBody {
            chain_id: "order-test".parse().expect("valid chain id"),
            sender: key.public(),
            nonce,
            fuel_limit: 1,
            price: 0,
            messages: vec![],
        };
        Tx::sign(body, key).to_bytes()
    }

    #[test]
    fn each_senders_txs_are_put_in_nonce_order_within_their_slots() {
        let (a, b) = (Keypair::derived("order", 0), Keypair::derived("order", 1));
        let input = vec![tx(&a, 2), tx(&b, 7), b"garbage".to_vec(), tx(&a, 0), tx(&b, 5), tx(&a, 1)];
        let out = order_by_sender_nonce(input.clone());
        let expected = vec![
            input[3].clone(),
            input[4].clone(),
            input[2].clone(),
            input[5].clone(),
            input[1].clone(),
            input[0].clone(),
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn txs_after_a_nonce_gap_or_stale_are_held_back() {
        let (a, b) = (Keypair::derived("order", 0), Keypair::derived("order", 1));
        // a's committed next nonce is 3, b's is 0; a:5 follows a gap, a:2 is stale, b's run is complete.
        let input =
            vec![tx(&a, 2), tx(&a, 3), tx(&b, 0), tx(&a, 5), tx(&b, 1), b"garbage".to_vec(), tx(&a, 4)];
        let out = hold_back_nonce_gaps(input.clone(), |pk| if *pk == a.public() { 3 } else { 0 });
        assert_eq!(out, vec![input[1].clone(), input[2].clone(), input[4].clone(), input[6].clone()]);
    }
}
