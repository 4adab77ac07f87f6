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
        ..MempoolConfig::default()
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
    let rest = pool.lock().await.update(Height(1), &[b"a:1".to_vec()], 1);
    assert_eq!(rest, vec![(Hash::digest(b"b:5"), b"b:5".to_vec())], "the oldest, up to the recheck limit");
    let rest = pool.lock().await.update(Height(1), &[], usize::MAX);
    assert_eq!(rest.len(), 2);
    assert_eq!(recheck(&pool, &app, rest).await.unwrap(), 1);
    assert_eq!(pool.lock().await.reap(1000, 10), vec![b"c:9".to_vec()]);
    // A committed tx gossiped again later is a duplicate.
    assert!(matches!(add_tx(&pool, &app, b"a:1".to_vec()).await, Err(MempoolError::Duplicate(_))));
    // TTL: c:9 entered at height 0 and is dropped once more than 3 blocks pass.
    pool.lock().await.update(Height(3), &[], usize::MAX);
    assert_eq!(pool.lock().await.len(), 1);
    pool.lock().await.update(Height(4), &[], usize::MAX);
    assert!(pool.lock().await.is_empty());
    assert_eq!(pool.lock().await.bytes(), 0);
}

/// An app that speaks cairn txs: CheckTx accepts any nonce at or above the committed one (0 here) and reports the
/// sender and, as priority, the price; `nonce/<hex>` answers the committed next nonce (0), as ExecApp does.
struct TxApp;

#[async_trait]
impl Application for TxApp {
    async fn info(&self, _: InfoRequest) -> AppResult<InfoResponse> {
        Ok(InfoResponse::default())
    }
    async fn init_chain(&self, _: InitChainRequest) -> AppResult<InitChainResponse> {
        Ok(InitChainResponse::default())
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        match cairn_primitives::Tx::from_bytes(&req.tx) {
            Ok(tx) => Ok(CheckTxResponse {
                sender: tx.body.sender.0.to_vec(),
                priority: i64::try_from(tx.body.price).unwrap_or(i64::MAX),
                ..Default::default()
            }),
            Err(e) => Ok(CheckTxResponse { code: 1, log: e.to_string(), ..Default::default() }),
        }
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
    async fn query(&self, r: QueryRequest) -> AppResult<QueryResponse> {
        let value = if r.path.starts_with("nonce/") { 0u64.to_le_bytes().to_vec() } else { Vec::new() };
        Ok(QueryResponse { value, ..Default::default() })
    }
}

fn signed(sender: u64, nonce: u64) -> Vec<u8> {
    priced(sender, nonce, 0)
}

fn priced(sender: u64, nonce: u64, price: u128) -> Vec<u8> {
    let key = cairn_primitives::Keypair::derived("mempool-test", sender);
    let body = cairn_primitives::TxBody {
        chain_id: "mempool-test".parse().expect("chain id"),
        sender: key.public(),
        nonce,
        fuel_limit: 1,
        price,
        messages: vec![],
    };
    cairn_primitives::Tx::sign(body, &key).to_bytes()
}

fn side_queue_config() -> MempoolConfig {
    MempoolConfig {
        max_txs: 10_000,
        max_bytes: 64 * 1024 * 1024,
        max_per_sender: 100,
        max_future_per_sender: 5,
        future_ttl_blocks: 3,
        ..MempoolConfig::default()
    }
}

#[tokio::test]
async fn twenty_senders_with_nonce_gaps_do_not_empty_blocks() {
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    // 20 senders send nonces 1..=5 first: each waits for its nonce 0, which never comes.
    for s in 0..20 {
        for n in 1..=5 {
            add_tx(&pool, &TxApp, signed(s, n)).await.expect("parked");
        }
    }
    // Then an honest sender's run 0..10.
    let honest: Vec<Vec<u8>> = (0..10).map(|n| signed(100, n)).collect();
    for tx in &honest {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("ready");
    }
    // A block of 10 holds the honest run, not ten txs the proposal would have to drop.
    assert_eq!(pool.lock().await.reap(usize::MAX, 10), honest);
    assert_eq!(pool.lock().await.future_count(&signed_sender(0)), 5);
}

fn signed_sender(s: u64) -> Vec<u8> {
    cairn_primitives::Keypair::derived("mempool-test", s).public().0.to_vec()
}

#[tokio::test]
async fn the_side_queue_is_capped_per_sender_filled_gaps_become_ready_and_old_ones_expire() {
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    for n in 1..=5 {
        add_tx(&pool, &TxApp, signed(1, n)).await.expect("parked");
    }
    let err = add_tx(&pool, &TxApp, signed(1, 6)).await.expect_err("over the side-queue cap");
    assert!(matches!(err, MempoolError::FutureLimit { count: 5, max: 5 }), "{err}");
    assert!(pool.lock().await.reap(usize::MAX, 100).is_empty(), "nothing of sender 1 is ready");
    // The missing nonce arrives: the whole run is ready, in nonce order of arrival.
    add_tx(&pool, &TxApp, signed(1, 0)).await.expect("fills the gap");
    assert_eq!(pool.lock().await.reap(usize::MAX, 100).len(), 6);
    assert_eq!(pool.lock().await.future_count(&signed_sender(1)), 0);

    // Another sender's parked txs are dropped once the gap stays open past future_ttl_blocks.
    add_tx(&pool, &TxApp, signed(2, 3)).await.expect("parked");
    pool.lock().await.update(Height(3), &[], usize::MAX);
    assert_eq!(pool.lock().await.future_count(&signed_sender(2)), 1);
    pool.lock().await.update(Height(4), &[], usize::MAX);
    assert_eq!(pool.lock().await.future_count(&signed_sender(2)), 0);
    assert_eq!(pool.lock().await.len(), 6, "ready txs stay");
}

#[tokio::test]
async fn committing_a_senders_tx_moves_its_next_nonce_and_drops_stale_ones() {
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    let (a0, a1, a2) = (signed(3, 0), signed(3, 1), signed(3, 2));
    for tx in [&a0, &a1, &a2] {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("ready");
    }
    pool.lock().await.update(Height(1), &[a0.clone(), a1.clone()], usize::MAX);
    assert_eq!(pool.lock().await.reap(usize::MAX, 10), vec![a2]);
}

/// The race that stranded a sender's txs on a localnet: a recheck evicts a tx as stale (its block committed in the
/// app) just before the pool's `update` for that block; the pool must still learn the sender's next nonce from the
/// block, or the sender's later txs wait forever behind a gap that is not there.
#[tokio::test]
async fn a_committed_tx_the_pool_already_dropped_still_moves_the_next_nonce() {
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    let (a0, a1, a2) = (signed(4, 0), signed(4, 1), signed(4, 2));
    for tx in [&a0, &a1, &a2] {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("ready");
    }
    // The recheck evicts a0 (committed in the app already), then the block with a0 reaches the pool.
    assert!(pool.lock().await.remove(&Hash::digest(&a0)));
    pool.lock().await.update(Height(1), std::slice::from_ref(&a0), usize::MAX);
    assert_eq!(pool.lock().await.reap(usize::MAX, 10), vec![a1, a2], "a1 and a2 are ready, not parked");
    assert_eq!(pool.lock().await.future_count(&signed_sender(4)), 0);
}

fn small_pool(max_txs: usize) -> Mutex<Mempool> {
    Mutex::new(Mempool::new(MempoolConfig { max_txs, ..side_queue_config() }))
}

#[tokio::test]
async fn a_full_pool_evicts_its_cheapest_tx_for_a_dearer_one_and_refuses_a_cheaper_one() {
    let pool = small_pool(3);
    let (cheap, mid, high) = (priced(0, 0, 1), priced(1, 0, 3), priced(2, 0, 5));
    for tx in [&cheap, &mid, &high] {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("room");
    }
    let newcomer = priced(3, 0, 4);
    add_tx(&pool, &TxApp, newcomer.clone()).await.expect("evicts the cheapest");
    let p = pool.lock().await;
    assert!(!p.contains(&Hash::digest(&cheap)), "the cheapest was evicted");
    assert!(p.contains(&Hash::digest(&mid)) && p.contains(&Hash::digest(&newcomer)));
    drop(p);
    // Nothing in the pool is cheaper than 3 now: a tx at 3 (or less) is refused, and the pool is unchanged.
    let err = add_tx(&pool, &TxApp, priced(4, 0, 3)).await.expect_err("full");
    assert!(matches!(err, MempoolError::Full { .. }), "{err}");
    assert_eq!(pool.lock().await.len(), 3);
}

#[tokio::test]
async fn eviction_takes_a_senders_last_nonce_so_no_gap_opens() {
    let pool = small_pool(3);
    let (a0, a1, b0) = (priced(0, 0, 1), priced(0, 1, 1), priced(1, 0, 2));
    for tx in [&a0, &a1, &b0] {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("room");
    }
    add_tx(&pool, &TxApp, priced(2, 0, 9)).await.expect("evicts");
    let p = pool.lock().await;
    assert!(p.contains(&Hash::digest(&a0)), "a0 stays: evicting it would strand a1");
    assert!(!p.contains(&Hash::digest(&a1)));
}

#[tokio::test]
async fn the_same_sender_and_nonce_replace_a_pending_tx_only_at_a_higher_price() {
    let pool = small_pool(10);
    let first = priced(0, 0, 2);
    add_tx(&pool, &TxApp, first.clone()).await.expect("in");
    let err = add_tx(&pool, &TxApp, first.clone()).await;
    assert!(matches!(err, Err(MempoolError::Duplicate(_))), "the very same bytes are a duplicate");
    // A different tx (another fuel limit would do; here the same price) with the same nonce is underpriced.
    let same_price = {
        let key = cairn_primitives::Keypair::derived("mempool-test", 0);
        let body = cairn_primitives::TxBody {
            chain_id: "mempool-test".parse().expect("chain id"),
            sender: key.public(),
            nonce: 0,
            fuel_limit: 2,
            price: 2,
            messages: vec![],
        };
        cairn_primitives::Tx::sign(body, &key).to_bytes()
    };
    let err = add_tx(&pool, &TxApp, same_price).await.expect_err("not more");
    assert!(matches!(err, MempoolError::Underpriced { nonce: 0, pending: 2, offered: 2 }), "{err}");
    let dearer = priced(0, 0, 3);
    add_tx(&pool, &TxApp, dearer.clone()).await.expect("replaces");
    let p = pool.lock().await;
    assert_eq!(p.len(), 1);
    assert!(!p.contains(&Hash::digest(&first)));
    assert_eq!(p.reap(usize::MAX, 10), vec![dearer]);
}

#[tokio::test]
async fn reaping_prefers_higher_prices_within_each_senders_nonce_order() {
    let pool = small_pool(10);
    let (a0, a1, b0, c0) = (priced(0, 0, 1), priced(0, 1, 9), priced(1, 0, 5), priced(2, 0, 1));
    for tx in [&a0, &a1, &b0, &c0] {
        add_tx(&pool, &TxApp, tx.clone()).await.expect("in");
    }
    // b0 (5) first; a0 (1) came before c0 (1); a1 (9) only after a0.
    assert_eq!(pool.lock().await.reap(usize::MAX, 10), vec![b0.clone(), a0.clone(), a1, c0]);
    assert_eq!(pool.lock().await.reap(usize::MAX, 1), vec![b0]);
}

/// A batch gets what one-by-one submission gets: a tx the pool refuses up front, a tx CheckTx refuses, a
/// duplicate inside the batch, a gap parked in the side queue, each with its own result and in order.
#[tokio::test]
async fn a_batch_gets_one_result_per_tx_in_order() {
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    let first = signed(7, 0);
    add_tx(&pool, &TxApp, first.clone()).await.expect("admitted alone");
    let batch = vec![first, signed(7, 1), b"junk".to_vec(), signed(7, 1), signed(8, 3), signed(8, 0)];
    let results = add_txs(&pool, &TxApp, batch).await;
    assert_eq!(results.len(), 6);
    assert!(matches!(results[0], Err(MempoolError::Duplicate(_))), "{:?}", results[0]);
    assert!(results[1].is_ok(), "{:?}", results[1]);
    assert!(matches!(results[2], Err(MempoolError::Rejected { code: 1, .. })), "{:?}", results[2]);
    assert!(matches!(results[3], Err(MempoolError::Duplicate(_))), "{:?}", results[3]);
    assert!(results[4].is_ok() && results[5].is_ok());
    let p = pool.lock().await;
    assert_eq!(p.len(), 4);
    assert_eq!(p.future_count(&cairn_primitives::Keypair::derived("mempool-test", 8).public().0), 1);
    assert_eq!(p.reap(usize::MAX, usize::MAX).len(), 3, "sender 8's nonce 3 waits for 1 and 2");
}

/// The eviction index (`tails`) equals what a scan of the pool finds, through a pseudo-random workload of
/// arrivals with gaps, replacements, evictions by a full pool, commits and removals.
#[tokio::test]
async fn the_eviction_index_matches_a_scan_of_the_pool() {
    let config =
        MempoolConfig { max_txs: 16, max_per_sender: 30, max_future_per_sender: 5, ..side_queue_config() };
    let pool = Mutex::new(Mempool::new(config));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut evictions = 0;
    for step in 0..3_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x;
        match r % 10 {
            0..=6 => {
                let (sender, nonce, price) = ((r >> 8) % 8, (r >> 16) % 12, u128::from((r >> 24) % 5));
                let before = pool.lock().await.len();
                let added = add_tx(&pool, &TxApp, priced(sender, nonce, price)).await.is_ok();
                evictions += usize::from(added && pool.lock().await.len() <= before);
            }
            7 => {
                let mut p = pool.lock().await;
                let reaped = p.reap(usize::MAX, 3);
                p.update(Height(step), &reaped, usize::MAX);
            }
            _ => {
                let mut p = pool.lock().await;
                let pick = (r >> 8) as usize % p.len().max(1);
                if let Some(h) = p.by_hash.keys().nth(pick).copied() {
                    p.remove(&h);
                }
            }
        }
        let p = pool.lock().await;
        let scan: BTreeSet<TailKey> = p
            .by_hash
            .iter()
            .filter(|(_, e)| match e.nonce {
                Some(n) => p.nonces.get(&e.sender).and_then(|q| q.keys().next_back()) == Some(&n),
                None => true,
            })
            .map(|(h, e)| tail_key(*h, e))
            .collect();
        assert_eq!(p.tails, scan, "step {step}");
    }
    assert!(
        evictions > 30,
        "the workload must reach the full-pool path ({evictions} evictions or replacements)"
    );
}

/// `precheck` refuses early, before CheckTx, a tx that cannot beat the cheapest evictable tx of a full pool — and
/// only such a tx.
#[tokio::test]
async fn a_full_pool_refuses_early_only_what_cannot_beat_its_cheapest_tail() {
    let config = MempoolConfig { max_txs: 3, ..side_queue_config() };
    let pool = Mutex::new(Mempool::new(config));
    for s in 0..3 {
        add_tx(&pool, &TxApp, priced(s, 0, 5 + u128::from(s))).await.expect("room");
    }
    let p = pool.lock().await;
    assert_eq!(p.cheapest_tail().map(|(price, _)| price), Some(5));
    assert!(matches!(p.precheck(&priced(9, 0, 3)), Err(MempoolError::Full { .. })));
    assert!(matches!(p.precheck(&priced(9, 0, 5)), Err(MempoolError::Full { .. })));
    assert!(p.precheck(&priced(9, 0, 6)).is_ok());
}

/// An app whose `check_txs` answers fewer txs than it was asked fails the whole batch with a clear error, instead
/// of leaving txs without a result.
#[tokio::test]
async fn an_app_that_answers_part_of_a_batch_fails_it() {
    struct Short;
    #[async_trait]
    impl Application for Short {
        async fn info(&self, r: InfoRequest) -> AppResult<InfoResponse> {
            TxApp.info(r).await
        }
        async fn init_chain(&self, r: InitChainRequest) -> AppResult<InitChainResponse> {
            TxApp.init_chain(r).await
        }
        async fn check_tx(&self, r: CheckTxRequest) -> AppResult<CheckTxResponse> {
            TxApp.check_tx(r).await
        }
        async fn check_txs(&self, mut reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
            reqs.pop();
            TxApp.check_txs(reqs).await
        }
        async fn prepare_proposal(&self, r: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
            TxApp.prepare_proposal(r).await
        }
        async fn process_proposal(&self, r: ProcessProposalRequest) -> AppResult<ProposalStatus> {
            TxApp.process_proposal(r).await
        }
        async fn finalize_block(&self, r: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
            TxApp.finalize_block(r).await
        }
        async fn commit(&self) -> AppResult<CommitResponse> {
            TxApp.commit().await
        }
        async fn query(&self, r: QueryRequest) -> AppResult<QueryResponse> {
            TxApp.query(r).await
        }
    }
    let pool = Mutex::new(Mempool::new(side_queue_config()));
    let results = add_txs(&pool, &Short, vec![signed(1, 0), signed(2, 0), signed(3, 0)]).await;
    assert_eq!(results.len(), 3);
    for r in &results {
        assert!(
            matches!(r, Err(MempoolError::App(AppError::Internal(m))) if m.contains("answered 2 of 3")),
            "{r:?}"
        );
    }
    assert!(pool.lock().await.is_empty());
}

/// The dedup memory of committed txs keeps the latest `committed_cache` only.
#[tokio::test]
async fn the_committed_memory_is_bounded() {
    let pool = Mutex::new(Mempool::new(config()));
    let committed: Vec<Vec<u8>> = (0..12).map(|i| format!("z:{i}").into_bytes()).collect();
    pool.lock().await.update(Height(1), &committed, 0);
    let p = pool.lock().await;
    assert!(p.precheck(&committed[0]).is_ok(), "the oldest two are forgotten");
    assert!(p.precheck(&committed[1]).is_ok());
    assert!(matches!(p.precheck(&committed[2]), Err(MempoolError::Duplicate(_))));
    assert!(matches!(p.precheck(&committed[11]), Err(MempoolError::Duplicate(_))));
}
