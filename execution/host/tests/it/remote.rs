//! Out-of-process mode: ExecApp behind cairn-abci's gRPC server, driven through `RemoteApp` (what
//! `cairn app --listen` serves and a node connects to).

use cairn_abci::client::{ClientConfig, RemoteApp};
use cairn_abci::server::{ServerConfig, spawn};
use cairn_abci::{Application, CheckTxKind, CheckTxRequest, FinalizeBlockRequest, QueryRequest};
use cairn_execution::{ExecApp, ExecConfig};
use cairn_module_bank::msg::QueryMsg;
use cairn_primitives::{Hash, Height, PublicKey};

use crate::bank::{START, bank_genesis, transfer_msg};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_app_serves_bank_transfers_over_grpc() {
    let dir = tempfile::tempdir().expect("tmp");
    let app = ExecApp::open(dir.path(), ExecConfig { fsync: false, ..ExecConfig::default() }).expect("app");
    let server =
        spawn(app, "127.0.0.1:0".parse().expect("addr"), ServerConfig::default()).await.expect("serve");
    let remote =
        RemoteApp::connect(server.local_addr().to_string(), ClientConfig::default()).await.expect("connect");

    let (genesis, bank) = bank_genesis(2);
    remote.init_chain(init_request(&genesis)).await.expect("init");
    let mut builder = Chain::new(genesis);
    let tx = builder.tx(&key(0), vec![transfer_msg(bank, &key(1), 7)]);
    let check =
        remote.check_tx(CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New }).await.expect("check");
    assert_eq!(check.code, 0, "{}", check.log);
    assert_eq!(check.sender, key(0).public().0.to_vec());
    let resp = remote
        .finalize_block(FinalizeBlockRequest {
            txs: vec![tx],
            hash: Hash::ZERO,
            height: Height(1),
            time_ms: 1,
            proposer: PublicKey::default(),
            misbehavior: vec![],
            decided_last_commit: None,
        })
        .await
        .expect("finalize");
    assert!(resp.tx_results[0].is_ok(), "{}", resp.tx_results[0].log);
    remote.commit().await.expect("commit");
    let info = remote.info(cairn_abci::InfoRequest {}).await.expect("info");
    assert_eq!((info.last_height, info.last_app_hash), (Height(1), resp.app_hash));
    let q = borsh::to_vec(&QueryMsg::Balance { account: key(1).public().0 }).expect("q");
    let r = remote
        .query(QueryRequest {
            path: format!("module/{}", bank.to_hex()),
            data: q,
            height: Height(0),
            prove: false,
        })
        .await
        .expect("query");
    assert_eq!(borsh::from_slice::<u128>(&r.value).expect("u128"), START + 7);
    server.shutdown().await.expect("shutdown");
}
