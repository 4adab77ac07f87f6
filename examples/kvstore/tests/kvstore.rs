//! The kvstore in-process and as a gRPC server binary.

mod common;

use std::process::Command;

use cairn_abci::*;
use cairn_primitives::Height;
use common::*;
use kvstore::KvStore;
use kvstore::tx::code;

#[tokio::test]
async fn garbage_tx_gets_a_nonzero_code_and_a_reason() {
    let app = KvStore::new();
    for (tx, want, why) in [
        (&b"no equals sign"[..], code::MALFORMED, "no '=' found"),
        (b"=v", code::MALFORMED, "empty key"),
        (b"val:xyz!1", code::MALFORMED, "64 hex characters"),
        (b"", code::MALFORMED, "empty tx"),
    ] {
        let r = app.check_tx(CheckTxRequest { tx: tx.to_vec(), kind: CheckTxKind::New }).await.unwrap();
        assert_eq!(r.code, want);
        assert!(r.log.contains(why), "{}", r.log);
    }
    let r = app.check_tx(CheckTxRequest { tx: b"a=b".to_vec(), kind: CheckTxKind::New }).await.unwrap();
    assert!(r.is_ok());
}

#[tokio::test]
async fn bad_txs_fail_without_aborting_the_block() {
    let app = KvStore::new();
    app.init_chain(init_chain()).await.unwrap();
    let unknown = format!("val:{}!0", "cd".repeat(32)).into_bytes();
    let txs = vec![b"a=1".to_vec(), b"junk".to_vec(), unknown, b"b=2".to_vec()];
    let resp = app.finalize_block(finalize_request(1, txs)).await.unwrap();
    let codes: Vec<u32> = resp.tx_results.iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![code::OK, code::MALFORMED, code::REJECTED, code::OK]);
    assert!(resp.tx_results[2].log.ends_with("is not a validator"));
    app.commit().await.unwrap();
    let state = app.committed().unwrap();
    assert_eq!(state.kv.len(), 2);
    assert_eq!(resp.app_hash, state.app_hash());
}

#[tokio::test]
async fn validator_txs_become_updates() {
    let app = KvStore::new();
    app.init_chain(init_chain()).await.unwrap();
    let new = cairn_primitives::Keypair::derived("new", 0).public();
    let txs = vec![
        format!("val:{}!7", new.to_hex()).into_bytes(),
        format!("val:{}!0", genesis_key(1).to_hex()).into_bytes(),
    ];
    let resp = app.finalize_block(finalize_request(1, txs)).await.unwrap();
    let mut want = vec![
        cairn_primitives::Validator { public_key: new, power: 7 },
        cairn_primitives::Validator { public_key: genesis_key(1), power: 0 },
    ];
    want.sort_by_key(|v| v.public_key);
    assert_eq!(resp.validator_updates, want);
}

#[tokio::test]
async fn calls_out_of_order_are_refused() {
    let app = KvStore::new();
    let err = app.finalize_block(finalize_request(1, vec![])).await.unwrap_err();
    assert!(matches!(err, AppError::OutOfOrder(_)), "{err:?}");
    app.init_chain(init_chain()).await.unwrap();
    assert!(matches!(app.init_chain(init_chain()).await, Err(AppError::OutOfOrder(_))));
    assert!(matches!(app.commit().await, Err(AppError::OutOfOrder(_))));
    let err = app.finalize_block(finalize_request(2, vec![])).await.unwrap_err();
    assert_eq!(err, AppError::OutOfOrder("FinalizeBlock at height 2, expected 1".into()));
    app.finalize_block(finalize_request(1, vec![])).await.unwrap();
    assert!(matches!(app.finalize_block(finalize_request(2, vec![])).await, Err(AppError::OutOfOrder(_))));
}

#[tokio::test]
async fn queries_answer_from_committed_state() {
    let app = KvStore::new();
    app.init_chain(init_chain()).await.unwrap();
    app.finalize_block(finalize_request(1, vec![b"k=v".to_vec()])).await.unwrap();
    let q = |path: &str, data: &[u8], height: u64| QueryRequest {
        path: path.into(),
        data: data.to_vec(),
        height: Height(height),
        prove: false,
    };
    // Not committed yet.
    assert_eq!(app.query(q("/store", b"k", 0)).await.unwrap().code, code::NOT_FOUND);
    app.commit().await.unwrap();
    let r = app.query(q("/store", b"k", 0)).await.unwrap();
    assert_eq!((r.code, r.value.as_slice(), r.height), (code::OK, &b"v"[..], Height(1)));
    assert_eq!(app.query(q("/store", b"k", 1)).await.unwrap().code, code::OK);
    assert_eq!(app.query(q("/store", b"k", 9)).await.unwrap().code, code::BAD_HEIGHT);
    assert_eq!(app.query(q("/nope", b"k", 0)).await.unwrap().code, code::UNKNOWN_PATH);
    let r = app.query(q("/validator", &genesis_key(2).0, 0)).await.unwrap();
    assert_eq!(r.value, b"12");
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.bin");
    let app = KvStore::with_state_file(&path).unwrap();
    app.init_chain(init_chain()).await.unwrap();
    app.finalize_block(finalize_request(1, vec![b"x=1".to_vec()])).await.unwrap();
    app.commit().await.unwrap();
    let before = app.info(InfoRequest {}).await.unwrap();
    drop(app);
    let again = KvStore::with_state_file(&path).unwrap();
    let info = again.info(InfoRequest {}).await.unwrap();
    assert_eq!(info, before);
    assert_eq!(info.last_height, Height(1));
    again.finalize_block(finalize_request(2, vec![])).await.unwrap();

    std::fs::write(&path, b"not a state").unwrap();
    let err = KvStore::with_state_file(&path).unwrap_err();
    assert!(err.to_string().contains("is not a kvstore state"), "{err}");
}

#[tokio::test]
async fn the_server_binary_matches_the_library() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvstore"));
    cmd.args(["--listen", "127.0.0.1:0"]);
    let (_server, addr) = start_server(cmd, "the kvstore binary");
    let remote = RemoteApp::connect(addr, ClientConfig::default()).await.unwrap();
    let local = KvStore::new();
    let (updates, failed) = drive_side_by_side(&remote, &local, 30).await;
    assert!(updates > 0 && failed > 0);
}
