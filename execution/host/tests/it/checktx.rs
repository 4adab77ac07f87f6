//! CheckTx: every rejection is cheap (no execution) and says why.

use cairn_execution::codes;
use cairn_primitives::{MAX_TX_BYTES, Message, Tx};
use serde_json::json;

use crate::common::*;

fn noop() -> Vec<Message> {
    vec![]
}

#[test]
fn a_good_tx_is_accepted_with_its_sender() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let tx = chain.tx(&k, noop());
    let r = chain.check(tx.clone());
    assert_eq!(r.code, 0, "{}", r.log);
    assert_eq!(r.sender, k.public().0.to_vec());
    assert_eq!(r.gas_wanted, FUEL);
    // A recheck (same bytes) passes too; the signature is remembered, not verified again.
    assert_eq!(chain.check(tx).code, 0);
}

#[test]
fn bad_signature_is_rejected() {
    let mut chain = Chain::new(json!({}));
    let bytes = chain.tx(&key(1), noop());
    let mut tx = Tx::from_bytes(&bytes).expect("tx");
    tx.signature.0[0] ^= 1;
    let r = chain.check(tx.to_bytes());
    assert_eq!(r.code, codes::BAD_SIGNATURE);
    assert!(r.log.contains("signature"), "{}", r.log);
    // FinalizeBlock checks it too (the tx was never verified by CheckTx).
    let resp = chain.block(vec![tx.to_bytes()]);
    assert_eq!(resp.tx_results[0].code, codes::BAD_SIGNATURE);
}

#[test]
fn wrong_chain_id_is_rejected() {
    let mut chain = Chain::new(json!({}));
    chain.chain_id = cairn_primitives::ChainId::new("other-chain").expect("id");
    let r = chain.check(chain.tx_with(&key(1), 0, FUEL, noop()));
    assert_eq!(r.code, codes::WRONG_CHAIN);
    assert!(r.log.contains("other-chain"), "{}", r.log);
}

#[test]
fn replayed_nonce_is_rejected() {
    let mut chain = Chain::new(json!({}));
    let k = key(1);
    let tx = chain.tx(&k, noop());
    assert_eq!(chain.check(tx.clone()).code, 0);
    assert!(chain.block(vec![tx.clone()]).tx_results[0].is_ok());
    let r = chain.check(tx.clone());
    assert_eq!(r.code, codes::BAD_NONCE);
    assert!(r.log.contains("already used"), "{}", r.log);
    // Included again in a block, it fails without effect.
    let resp = chain.block(vec![tx]);
    assert_eq!(resp.tx_results[0].code, codes::BAD_NONCE);
}

#[test]
fn oversized_tx_is_rejected() {
    let chain = Chain::new(json!({}));
    let r = chain.check(vec![0u8; MAX_TX_BYTES + 1]);
    assert_eq!(r.code, codes::TOO_LARGE);
    assert!(r.log.contains("over the limit"), "{}", r.log);
}

#[test]
fn garbage_bytes_are_rejected() {
    let chain = Chain::new(json!({}));
    let r = chain.check(b"definitely not a tx".to_vec());
    assert_eq!(r.code, codes::DECODE);
    assert!(r.log.contains("does not decode"), "{}", r.log);
}

#[test]
fn fuel_limit_over_the_chain_maximum_is_rejected() {
    let chain = Chain::new(json!({ "max_tx_fuel": 1000 }));
    let r = chain.check(chain.tx_with(&key(1), 0, 1001, noop()));
    assert_eq!(r.code, codes::FUEL_LIMIT);
    assert!(r.log.contains("maximum of 1000"), "{}", r.log);
}

/// `check_txs` (one signature batch) answers what `check_tx` answers one by one, on a chain that never saw the
/// txs: a forged signature among good txs is found and named, bytes that do not decode are refused as such.
#[test]
fn a_batch_gets_the_verdicts_of_one_by_one() {
    use cairn_abci::{Application, CheckTxKind, CheckTxRequest};
    let mut chain = Chain::new(json!({}));
    let mut txs: Vec<Vec<u8>> = (1..=6).map(|i| chain.tx(&key(i), noop())).collect();
    let mut forged = Tx::from_bytes(&txs[3]).expect("tx");
    forged.signature.0[40] ^= 1;
    txs[3] = forged.to_bytes();
    txs.push(b"not a tx".to_vec());
    let reqs = txs.iter().map(|tx| CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New }).collect();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batch = rt.block_on(chain.app.check_txs(reqs)).expect("check_txs");
    let alone = Chain::new(json!({}));
    let one_by_one: Vec<_> = txs.iter().map(|tx| alone.check(tx.clone())).collect();
    let codes_of =
        |v: &[cairn_abci::CheckTxResponse]| v.iter().map(|r| (r.code, r.log.clone())).collect::<Vec<_>>();
    assert_eq!(codes_of(&batch), codes_of(&one_by_one));
    assert_eq!(batch[3].code, codes::BAD_SIGNATURE);
    assert!(batch.iter().enumerate().all(|(i, r)| (r.code == 0) == !matches!(i, 3 | 6)));
    // FinalizeBlock agrees, on a chain that checked them in the batch and on one that never saw them.
    let block = chain.block(txs[..6].to_vec());
    let mut fresh = Chain::new(json!({}));
    let unseen = fresh.block(txs[..6].to_vec());
    let results =
        |r: &cairn_abci::FinalizeBlockResponse| r.tx_results.iter().map(|t| t.code).collect::<Vec<_>>();
    assert_eq!(results(&block), results(&unseen));
    assert_eq!(results(&block)[3], codes::BAD_SIGNATURE);
}
