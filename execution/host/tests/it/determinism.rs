//! The same blocks on two independent apps give the same app hashes; a restart resumes where it stopped.

use cairn_abci::{Application, FinalizeBlockRequest, InfoRequest};
use cairn_execution::{CacheHit, ExecApp, ExecConfig};
use cairn_primitives::{Hash, Height, Message, PublicKey};
use serde_json::json;

use crate::common::*;

fn blocks(chain: &mut Chain, addr: cairn_primitives::Address) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for b in 0..4u64 {
        let mut txs = Vec::new();
        for i in 0..5u64 {
            let k = key(i);
            let op = [0u8, 0, 7, 1, 9][((b + i) % 5) as usize];
            txs.push(chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![op] }]));
        }
        out.push(txs);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_blocks_give_identical_app_hashes_on_two_apps() {
    let code = counter();
    let genesis = json!({ "modules": [{ "label": "counter", "wasm_hex": hex::encode(&code) }] });
    let addr = genesis_instance(&code, 0);
    let d1 = tempfile::tempdir().expect("tmp");
    let d2 = tempfile::tempdir().expect("tmp");
    let config = ExecConfig { fsync: false, ..ExecConfig::default() };
    let a = ExecApp::open(d1.path(), config.clone()).expect("a");
    let b = ExecApp::open(d2.path(), config.clone()).expect("b");
    let ia = a.init_chain(init_request(&genesis)).await.expect("init a");
    let ib = b.init_chain(init_request(&genesis)).await.expect("init b");
    assert_eq!(ia.app_hash, ib.app_hash);

    let mut builder = Chain::new(genesis.clone());
    let blocks = blocks(&mut builder, addr);
    let mut hashes = Vec::new();
    for (h, txs) in blocks.iter().enumerate() {
        let req = FinalizeBlockRequest {
            txs: txs.clone(),
            hash: Hash::ZERO,
            height: Height(h as u64 + 1),
            time_ms: 5_000 + h as u64,
            proposer: PublicKey::default(),
            misbehavior: vec![],
            decided_last_commit: None,
        };
        let ra = a.finalize_block(req.clone()).await.expect("a");
        let rb = b.finalize_block(req).await.expect("b");
        assert_eq!(ra, rb, "results, events and app hash must match at height {}", h + 1);
        a.commit().await.expect("commit a");
        b.commit().await.expect("commit b");
        hashes.push(ra.app_hash);
    }
    hashes.dedup();
    assert_eq!(hashes.len(), 4, "every block changes state");

    // Restart: Info reports the last committed block, and the module comes from the on-disk cache.
    let info = a.info(InfoRequest {}).await.expect("info");
    drop(a);
    let reopened = ExecApp::open(d1.path(), config).expect("reopen");
    let info2 = reopened.info(InfoRequest {}).await.expect("info");
    assert_eq!(info, info2);
    assert_eq!(info2.last_height, Height(4));
    let (_, hit) = reopened.module_cache().get(&Hash::digest(&code), || Ok(Vec::new())).expect("cached");
    assert_eq!(hit, CacheHit::Disk, "restart must not recompile");
}

#[test]
fn a_restart_between_finalize_and_commit_replays_the_block_to_the_same_hash() {
    let code = counter();
    let genesis = json!({ "modules": [{ "label": "counter", "wasm_hex": hex::encode(&code) }] });
    let addr = genesis_instance(&code, 0);
    let dir = tempfile::tempdir().expect("tmp");
    let mut chain = Chain::open(dir.path(), genesis);
    chain.exec(&key(1), addr, vec![0]);
    let tx = chain.tx(&key(1), vec![Message::Execute { contract: addr, msg: vec![0] }]);
    let req = FinalizeBlockRequest {
        txs: vec![tx],
        hash: Hash::ZERO,
        height: Height(2),
        time_ms: 9,
        proposer: PublicKey::default(),
        misbehavior: vec![],
        decided_last_commit: None,
    };
    let first = chain.app.finalize_block_sync(req.clone()).expect("finalize");
    drop(chain); // crash: no commit
    let app =
        ExecApp::open(dir.path(), ExecConfig { fsync: false, ..ExecConfig::default() }).expect("reopen");
    assert_eq!(app.info_sync().last_height, Height(1), "the uncommitted block is gone");
    let again = app.finalize_block_sync(req).expect("replay");
    assert_eq!(first, again);
    app.commit_sync().expect("commit");
    assert_eq!(app.info_sync().last_app_hash, first.app_hash);
}
