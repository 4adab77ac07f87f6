//! Start-up handshake: replay into an app that lost commits; refuse an app whose hash disagrees.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cairn_abci::*;
use cairn_node::NodeHandle;
use kvstore::KvStore;

use crate::common::*;

/// Wraps an app and falsifies the app hash it reports: from `Info`, or from `FinalizeBlock`.
struct Tamper {
    inner: KvStore,
    info: bool,
    finalize: bool,
}

fn flip(h: cairn_primitives::Hash) -> cairn_primitives::Hash {
    let mut b = h.0;
    b[0] ^= 0xff;
    cairn_primitives::Hash(b)
}

#[async_trait]
impl Application for Tamper {
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse> {
        let mut r = self.inner.info(req).await?;
        if self.info {
            r.last_app_hash = flip(r.last_app_hash);
        }
        Ok(r)
    }
    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.inner.init_chain(req).await
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        self.inner.check_tx(req).await
    }
    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        self.inner.prepare_proposal(req).await
    }
    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        self.inner.process_proposal(req).await
    }
    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let mut r = self.inner.finalize_block(req).await?;
        if self.finalize {
            r.app_hash = flip(r.app_hash);
        }
        Ok(r)
    }
    async fn commit(&self) -> AppResult<CommitResponse> {
        self.inner.commit().await
    }
    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        self.inner.query(req).await
    }
}

async fn put(node: &NodeHandle, kv: &str) -> anyhow::Result<()> {
    let (hash, _) = node.broadcast_tx(kv.as_bytes().to_vec()).await?;
    wait_tx(node, &hash, Duration::from_secs(20)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_blocks_the_app_lost_and_refuses_a_diverging_app() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("node");
    let state_file = dir.path().join("app.state");
    let lost_file = dir.path().join("app.state.lost");
    let keys = keys("handshake", 1);
    let genesis = genesis("handshake", &keys);

    // Run a single validator; snapshot the app's state file, then commit more blocks.
    let node =
        start(&home, &keys[0], &genesis, config(vec![]), Arc::new(KvStore::with_state_file(&state_file)?))
            .await?;
    put(&node, "early=1").await?;
    std::fs::copy(&state_file, &lost_file)?;
    let lost_height = KvStore::with_state_file(&lost_file)?.committed()?.height;
    put(&node, "late=2").await?;
    wait_height(&[&node], lost_height + 3, Duration::from_secs(20)).await?;
    node.shutdown().await;
    let store_height = {
        // The app "crashed" between FinalizeBlock and Commit for every block after `lost_height`.
        std::fs::copy(&lost_file, &state_file)?;
        lost_height
    };

    // A tampered Info hash: the app claims a state the chain never had; the node refuses to start.
    let tampered = Tamper { inner: KvStore::with_state_file(&state_file)?, info: true, finalize: false };
    let err =
        start(&home, &keys[0], &genesis, config(vec![]), Arc::new(tampered)).await.err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("app hash mismatch"), "{msg}");
    assert!(msg.contains(&format!("height {store_height}")), "{msg}");

    // A replay that computes other hashes than the original run: the error names the height and both hashes.
    let tampered = Tamper { inner: KvStore::with_state_file(&state_file)?, info: false, finalize: true };
    let err =
        start(&home, &keys[0], &genesis, config(vec![]), Arc::new(tampered)).await.err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains(&format!("app hash mismatch at height {}", store_height + 1)), "{msg}");
    let chain_hash = {
        let app = KvStore::with_state_file(&state_file)?;
        let _ = app;
        // The chain's hash is in the next block's header.
        let probe = start(
            &home,
            &keys[0],
            &genesis,
            config(vec![]),
            Arc::new(KvStore::with_state_file(&state_file)?),
        )
        .await?;
        let (next, _) = probe.block(cairn_primitives::Height(store_height + 2))?.expect("stored");
        let h = next.header.app_hash;
        // The honest replay brought the app level with the store: it has the late write.
        let resp = probe
            .query(QueryRequest { path: "/store".into(), data: b"late".to_vec(), ..Default::default() })
            .await?;
        assert_eq!(resp.value, b"2", "replayed block's write is in the app");
        assert!(probe.status().height.0 >= lost_height + 3);
        put(&probe, "after=3").await?;
        probe.shutdown().await;
        h
    };
    assert!(msg.contains(&chain_hash.to_hex()), "error names the chain's hash: {msg}");
    assert!(msg.contains(&flip(chain_hash).to_hex()), "error names the app's hash: {msg}");
    Ok(())
}
