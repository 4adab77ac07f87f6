use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use cairn_abci::*;

use super::*;

/// A test app: txs are `sender:nonce`; a tx is valid while its nonce is ≥ the sender's committed nonce.
#[derive(Default)]
struct NonceApp {
    committed_nonce: AtomicU64,
}

#[async_trait]
impl Application for NonceApp {
    async fn info(&self, _: InfoRequest) -> AppResult<InfoResponse> {
        Ok(InfoResponse::default())
    }
    async fn init_chain(&self, _: InitChainRequest) -> AppResult<InitChainResponse> {
        Ok(InitChainResponse::default())
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        let s = String::from_utf8_lossy(&req.tx).to_string();
        let Some((sender, nonce)) = s.split_once(':') else {
            return Ok(CheckTxResponse {
                code: 1,
                log: "expected sender:nonce".into(),
                ..Default::default()
            });
        };
        let nonce: u64 = nonce.parse().unwrap_or(0);
        if nonce < self.committed_nonce.load(Ordering::SeqCst) {
            return Ok(CheckTxResponse { code: 2, log: "nonce already used".into(), ..Default::default() });
        }
        Ok(CheckTxResponse { sender: sender.as_bytes().to_vec(), ..Default::default() })
    }
    async fn prepare_proposal(&self, r: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        Ok(PrepareProposalResponse { txs: r.txs })
    }
    async fn process_proposal(&self, _: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        Ok(ProposalStatus::Accept)
    }
    async fn finalize_block(&self, _: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        Ok(FinalizeBlockResponse::default())
    }
    async fn commit(&self) -> AppResult<CommitResponse> {
        Ok(CommitResponse::default())
    }
    async fn query(&self, _: QueryRequest) -> AppResult<QueryResponse> {
        Ok(QueryResponse::default())
    }
}

fn config() -> MempoolConfig {
    MempoolConfig {
        max_txs: 4,
        max_bytes: 1000,
        max_tx_bytes: 64,
        max_per_sender: 2,
        ttl_blocks: 3,
        committed_cache: 10,
    }
}

#[tokio::test]
async fn accepts_valid_rejects_invalid_and_dedups() {
    let pool = Mutex::new(Mempool::new(config()));
    let app = NonceApp::default();
    let (hash, _) = add_tx(&pool, &app, b"alice:0".to_vec()).await.unwrap();
    assert!(pool.lock().await.contains(&hash));
    assert!(matches!(add_tx(&pool, &app, b"alice:0".to_vec()).await, Err(MempoolError::Duplicate(_))));
    let err = add_tx(&pool, &app, b"garbage".to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("expected sender:nonce"), "{err}");
    let err = add_tx(&pool, &app, vec![b'x'; 65]).await.unwrap_err();
    assert!(matches!(err, MempoolError::TooLarge { len: 65, max: 64 }));
    assert_eq!(pool.lock().await.len(), 1);
}

#[tokio::test]
async fn full_pool_and_sender_limit_answer_with_clear_errors() {
    let pool = Mutex::new(Mempool::new(config()));
    let app = NonceApp::default();
    add_tx(&pool, &app, b"a:1".to_vec()).await.unwrap();
    add_tx(&pool, &app, b"a:2".to_vec()).await.unwrap();
    let err = add_tx(&pool, &app, b"a:3".to_vec()).await.unwrap_err();
    assert!(matches!(err, MempoolError::SenderLimit { count: 2, max: 2 }), "{err}");
    add_tx(&pool, &app, b"b:1".to_vec()).await.unwrap();
    add_tx(&pool, &app, b"c:1".to_vec()).await.unwrap();
    let err = add_tx(&pool, &app, b"d:1".to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("mempool is full"), "{err}");
}

#[tokio::test]
async fn update_removes_committed_expires_old_and_recheck_evicts() {
    let pool = Mutex::new(Mempool::new(config()));
    let app = NonceApp::default();
    add_tx(&pool, &app, b"a:1".to_vec()).await.unwrap();
    add_tx(&pool, &app, b"b:5".to_vec()).await.unwrap();
    add_tx(&pool, &app, b"c:9".to_vec()).await.unwrap();
    assert_eq!(pool.lock().await.reap(1000, 10), vec![b"a:1".to_vec(), b"b:5".to_vec(), b"c:9".to_vec()]);
    assert_eq!(pool.lock().await.reap(1000, 2).len(), 2);
    assert_eq!(pool.lock().await.reap(6, 10).len(), 2, "byte limit respected");

    // a:1 is committed; afterwards every nonce < 6 is used, so b:5 must be evicted by recheck.
    app.committed_nonce.store(6, Ordering::SeqCst);
    let rest = pool.lock().await.update(Height(1), &[b"a:1".to_vec()]);
    assert_eq!(rest.len(), 2);
    assert_eq!(recheck(&pool, &app, rest).await.unwrap(), 1);
    assert_eq!(pool.lock().await.reap(1000, 10), vec![b"c:9".to_vec()]);
    // A committed tx gossiped again later is a duplicate.
    assert!(matches!(add_tx(&pool, &app, b"a:1".to_vec()).await, Err(MempoolError::Duplicate(_))));
    // TTL: c:9 entered at height 0 and is dropped once more than 3 blocks pass.
    pool.lock().await.update(Height(3), &[]);
    assert_eq!(pool.lock().await.len(), 1);
    pool.lock().await.update(Height(4), &[]);
    assert!(pool.lock().await.is_empty());
    assert_eq!(pool.lock().await.bytes(), 0);
}
