//! The hostile corpus (issue 17): modules and txs that must fail alone, through `ExecApp` on the real redb
//! `StateBackend`. FinalizeBlock never returns `Err`, each tx gets the code the corpus says, and two independent
//! hosts fed the same blocks give identical results and app hashes.

use cairn_abci::FinalizeBlockResponse;
use cairn_execution::codes;
use cairn_primitives::Message;
use serde_json::json;

use crate::common::*;

/// A module with the entry points every cairn module needs, plus `extra` (declarations and functions).
pub fn shell(extra: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            (memory (export "memory") 1)
            (func (export "cairn_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
            (func (export "execute") (param i32 i32) (result i32) i32.const 0)
            (func (export "query") (param i32 i32) (result i32) i32.const 0)
            {extra})"#
    );
    wat::parse_str(text).expect("corpus module parses")
}

/// Two chains on redb in their own temp dirs, fed the same blocks.
pub struct Twin {
    pub a: Chain,
    pub b: Chain,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Twin {
    pub fn new(genesis: serde_json::Value) -> Twin {
        let d1 = tempfile::tempdir().expect("tmp");
        let d2 = tempfile::tempdir().expect("tmp");
        let a = Chain::open(d1.path(), genesis.clone());
        let b = Chain::open(d2.path(), genesis);
        Twin { a, b, _dirs: (d1, d2) }
    }

    /// Runs one block on both; `Chain::block` panics if FinalizeBlock or Commit returns `Err`.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> FinalizeBlockResponse {
        let ra = self.a.block(txs.clone());
        let rb = self.b.block(txs);
        assert_eq!(ra, rb, "two hosts must agree on results, events and the app hash");
        ra
    }

    /// One tx (built on `a`, whose nonces `b` mirrors) in its own block.
    pub fn send(&mut self, key: &cairn_primitives::Keypair, messages: Vec<Message>) -> cairn_abci::TxResult {
        let tx = self.a.tx(key, messages);
        self.block(vec![tx]).tx_results.remove(0)
    }
}

fn upload_fails_naming(twin: &mut Twin, code: Vec<u8>, words: &[&str]) {
    let r = twin.send(&key(1), vec![Message::Upload { code }]);
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    let log = r.log.to_lowercase();
    assert!(words.iter().any(|w| log.contains(w)), "log should name the cause ({words:?}): {}", r.log);
}

#[test]
fn an_externref_table_fails_its_upload_and_the_chain_goes_on() {
    let mut twin = Twin::new(json!({}));
    upload_fails_naming(&mut twin, shell("(table 1 externref)"), &["reference", "gc", "externref"]);
    // The chain is alive: a valid upload in the next block succeeds.
    let r = twin.send(&key(2), vec![Message::Upload { code: counter() }]);
    assert!(r.is_ok(), "{}", r.log);
}

/// Upload with enough fuel for a large module (the chain's max tx fuel).
fn upload_big(twin: &mut Twin, code: Vec<u8>) -> cairn_abci::TxResult {
    let k = key(3);
    let n = twin.a.nonces.entry(k.public()).or_insert(0);
    let nonce = *n;
    *n += 1;
    let tx = twin.a.tx_with(&k, nonce, BIG_FUEL, vec![Message::Upload { code }]);
    twin.block(vec![tx]).tx_results.remove(0)
}

const BIG_FUEL: u64 = 100_000_000;

#[test]
fn reference_and_gc_types_fail_their_upload_naming_the_feature() {
    let mut twin = Twin::new(json!({}));
    for extra in [
        "(func (param externref))",
        "(global externref (ref.null extern))",
        "(type (struct (field i32)))",
        "(func (result anyref) ref.null any)",
    ] {
        let r = twin.send(&key(1), vec![Message::Upload { code: shell(extra) }]);
        assert_eq!(r.code, codes::EXEC_FAILED, "{extra}: {}", r.log);
        assert!(r.log.contains("offset") || r.log.contains("engine"), "{extra}: {}", r.log);
    }
    // funcref tables (wasm 2.0 reference types) stay allowed, and run.
    let code = shell("(table 16 funcref) (elem (i32.const 0) func 0)");
    let r = twin.send(&key(2), vec![Message::Upload { code }]);
    assert!(r.is_ok(), "{}", r.log);
}

fn many(n: usize, item: &str) -> String {
    let mut s = String::with_capacity(n * (item.len() + 1));
    for _ in 0..n {
        s.push_str(item);
        s.push('\n');
    }
    s
}

#[test]
fn seventy_thousand_globals_exceed_the_pool_and_fail_at_upload() {
    // 70 000 i64 globals need over 1 MiB of instance state: valid wasm, but over the pool's per-instance size.
    let code = shell(&many(70_000, "(global (mut i64) (i64.const 0))"));
    let mut twin = Twin::new(json!({}));
    let r = upload_big(&mut twin, code);
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    assert!(r.log.contains("engine cannot run") && r.log.contains("pooling"), "{}", r.log);
    // A module with thousands of globals that fits is accepted.
    let r = upload_big(&mut twin, shell(&many(5_000, "(global (mut i64) (i64.const 0))")));
    assert!(r.is_ok(), "{}", r.log);
}

#[test]
fn functions_over_the_limit_fail_at_upload_and_below_it_run() {
    let mut twin = Twin::new(json!({}));
    let r = upload_big(&mut twin, shell(&many(50_001, "(func)")));
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    assert!(r.log.contains("function section") && r.log.contains("50000"), "{}", r.log);
    let r = upload_big(&mut twin, shell(&many(20_000, "(func)")));
    assert!(r.is_ok(), "{}", r.log);
}

#[test]
fn a_huge_table_fails_at_upload_and_the_largest_allowed_runs() {
    let mut twin = Twin::new(json!({}));
    let r = upload_big(&mut twin, shell("(table 10001 funcref)"));
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    assert!(r.log.contains("10001") && r.log.contains("10000"), "{}", r.log);
    let r = upload_big(&mut twin, shell("(table 4000000000 funcref)"));
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    // At the cap, with a declared maximum far above it: accepted, instantiated and run.
    let code = shell("(table 10000 4000000000 funcref)");
    let r = upload_big(&mut twin, code.clone());
    assert!(r.is_ok(), "{}", r.log);
    let id = cairn_primitives::Hash::digest(&code);
    let k = key(4);
    let inst = Message::Instantiate { code_id: id, label: "table".into(), admin: None, msg: vec![] };
    let r = twin.send(&k, vec![inst]);
    assert!(r.is_ok(), "{}", r.log);
}

fn store_chain() -> (Twin, cairn_primitives::Address) {
    let code = wat("store.wat");
    let twin = Twin::new(json!({ "modules": [{ "label": "store", "wasm_hex": hex::encode(&code) }] }));
    (twin, genesis_instance(&code, 0))
}

fn op(op: u8, n: u32) -> Vec<u8> {
    let mut m = vec![op];
    m.extend_from_slice(&n.to_le_bytes());
    m
}

#[test]
fn deleting_absent_keys_succeeds_and_is_charged_per_delete() {
    let (mut twin, addr) = store_chain();
    let k = key(1);
    let few = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(1, 10) }]);
    let more = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(1, 1_000) }]);
    assert!(few.is_ok() && more.is_ok(), "{} {}", few.log, more.log);
    let per_delete = (more.gas_used - few.gas_used) / 990;
    assert!(
        per_delete >= cairn_execution::prices::Prices::default().storage_write,
        "a delete costs {per_delete}"
    );
    // Deleting more than the fuel pays for fails the tx alone.
    let r = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(1, 1_000_000) }]);
    assert_eq!(r.code, codes::OUT_OF_FUEL, "{}", r.log);
}

#[test]
fn storage_next_over_deletion_markers_is_charged_per_skipped_entry() {
    let (mut twin, addr) = store_chain();
    let k = key(1);
    let r = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(0, 2_000) }]);
    assert!(r.is_ok(), "{}", r.log);
    // Same tx: delete all 2000 (markers in the overlay over committed keys), then one scan over them.
    let del_only = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(1, 2_000) }]);
    assert!(del_only.is_ok(), "{}", del_only.log);
    let r = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(0, 2_000) }]);
    assert!(r.is_ok(), "{}", r.log);
    let del_scan = twin.send(&k, vec![Message::Execute { contract: addr, msg: op(3, 2_000) }]);
    assert!(del_scan.is_ok(), "{}", del_scan.log);
    let found = i32::from_le_bytes(output(&del_scan).try_into().expect("4 bytes"));
    assert_eq!(found, -1, "every key in the range is deleted");
    let scan_cost = del_scan.gas_used - del_only.gas_used;
    assert!(
        scan_cost >= 2_000 * cairn_execution::prices::Prices::default().storage_next_skip,
        "one scan over 2000 deletion markers cost only {scan_cost}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_of_max_fuel_write_heavy_txs_stays_within_the_write_budget() {
    use cairn_abci::{Application, PrepareProposalRequest};
    let code = wat("store.wat");
    let budget = 2 * 1024 * 1024;
    let mut twin = Twin::new(json!({
        "modules": [{ "label": "store", "wasm_hex": hex::encode(&code) }],
        "max_block_write_bytes": budget,
    }));
    let addr = genesis_instance(&code, 0);
    // Each tx spends (nearly) its whole fuel writing 15 values of 60 000 bytes: ~900 KB a tx.
    let txs: Vec<Vec<u8>> = (0..4)
        .map(|i| twin.a.tx(&key(20 + i), vec![Message::Execute { contract: addr, msg: op(4, 15) }]))
        .collect();
    // The proposer leaves out what the budget cannot hold; those txs stay for a later block.
    let req = PrepareProposalRequest {
        max_tx_bytes: u64::MAX,
        txs: txs.clone(),
        height: cairn_primitives::Height(twin.a.height + 1),
        time_ms: 1_000 + (twin.a.height + 1) * 1_000,
        proposer: cairn_primitives::PublicKey::default(),
    };
    let proposed = twin.a.app.prepare_proposal(req).await.expect("prepare").txs;
    assert_eq!(proposed, txs[..2].to_vec(), "two ~900 KB txs fit 2 MiB, a third does not");
    // A proposer that ignores the budget: FinalizeBlock still succeeds, the txs past the budget fail alone
    // (writes dropped), and two hosts agree.
    let resp = twin.block(txs.clone());
    let seen: Vec<u32> = resp.tx_results.iter().map(|r| r.code).collect();
    assert_eq!(seen, vec![0, 0, codes::BLOCK_WRITES, codes::BLOCK_WRITES], "{:?}", resp.tx_results);
    assert!(resp.tx_results[2].log.contains("write budget"), "{}", resp.tx_results[2].log);
    // The next block has a fresh budget: a left-out sender's next tx runs.
    let again = twin.a.tx(&key(22), vec![Message::Execute { contract: addr, msg: op(4, 15) }]);
    let resp = twin.block(vec![again]);
    assert!(resp.tx_results[0].is_ok(), "{}", resp.tx_results[0].log);
}
