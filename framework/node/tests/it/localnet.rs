//! Four validators finalize blocks with txs over real p2p (each with a p2p key apart from its validator key).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cairn_abci::{Application, QueryRequest};
use cairn_node::NodeHandle;
use cairn_node::net::MemoryHub;
use cairn_primitives::PublicKey;
use kvstore::KvStore;

use crate::common::*;

async fn submit_and_check(handles: &[&NodeHandle], count: usize) -> anyhow::Result<()> {
    let mut hashes = Vec::new();
    for i in 0..count {
        let node = handles[i % handles.len()];
        let (hash, check) = node.broadcast_tx(format!("key{i}=value{i}").into_bytes()).await?;
        assert!(check.is_ok(), "CheckTx rejected: {}", check.log);
        hashes.push(hash);
    }
    for (i, hash) in hashes.iter().enumerate() {
        for node in handles {
            let rec = wait_tx(node, hash, Duration::from_secs(30)).await?;
            assert_eq!(rec.result.code, 0, "tx {i} failed: {}", rec.result.log);
            assert_eq!(rec.tx, format!("key{i}=value{i}").into_bytes());
        }
    }
    // The state is queryable on every node.
    for node in handles {
        let resp = node
            .query(QueryRequest { path: "/store".into(), data: b"key3".to_vec(), ..Default::default() })
            .await?;
        assert_eq!(resp.value, b"value3", "query log: {}", resp.log);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_finalize_txs_over_p2p() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("localnet", 4);
    let genesis = genesis("localnet-p2p", &keys);
    let nodes =
        start_p2p_net(dir.path(), &keys, &genesis, |_| Arc::new(KvStore::new()) as Arc<dyn Application>)
            .await?;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, 2, Duration::from_secs(30)).await?;
    submit_and_check(&handles, 20).await?;
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    for h in &handles {
        let c = h.counters();
        assert_eq!(c.evidence, 0, "no equivocation among honest nodes");
        assert_eq!(h.status().peers.len(), 3, "full mesh on loopback");
    }
    // Each node's network identity is a p2p key of its own, and its peers know it by the validator key its
    // binding proves (that is what lets their gossip filters accept its votes).
    for h in &handles {
        let s = h.status();
        assert_ne!(s.p2p_key, s.node_key, "the p2p key is not the validator key");
        let expected: BTreeSet<PublicKey> =
            keys.iter().map(|k| k.public()).filter(|k| *k != s.node_key).collect();
        assert_eq!(s.peers.iter().copied().collect::<BTreeSet<_>>(), expected, "peers by validator key");
    }
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_finalize_txs_on_memory_hub() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("memnet", 4);
    let genesis = genesis("localnet-mem", &keys);
    let hub = MemoryHub::new();
    let nodes = start_memory_net(dir.path(), &hub, &keys, &genesis, |_| {
        Arc::new(KvStore::new()) as Arc<dyn Application>
    })
    .await?;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, 2, Duration::from_secs(30)).await?;
    submit_and_check(&handles, 20).await?;
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;

    // Idle: empty blocks come every `empty_block_interval_ms` (300 ms here), not as fast as the CPU allows.
    let before = handles[0].status().height.0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_blocks = handles[0].status().height.0 - before;
    assert!((3..=12).contains(&idle_blocks), "{idle_blocks} empty blocks in 3 s of idling");
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}

/// Schedules an engine switch through a consensus-param update returned by `FinalizeBlock(at)`.
struct SwitchAt {
    inner: KvStore,
    at: u64,
    switch_height: u64,
}

#[async_trait::async_trait]
impl Application for SwitchAt {
    async fn info(&self, req: cairn_abci::InfoRequest) -> cairn_abci::AppResult<cairn_abci::InfoResponse> {
        self.inner.info(req).await
    }
    async fn init_chain(
        &self,
        req: cairn_abci::InitChainRequest,
    ) -> cairn_abci::AppResult<cairn_abci::InitChainResponse> {
        self.inner.init_chain(req).await
    }
    async fn check_tx(
        &self,
        req: cairn_abci::CheckTxRequest,
    ) -> cairn_abci::AppResult<cairn_abci::CheckTxResponse> {
        self.inner.check_tx(req).await
    }
    async fn prepare_proposal(
        &self,
        req: cairn_abci::PrepareProposalRequest,
    ) -> cairn_abci::AppResult<cairn_abci::PrepareProposalResponse> {
        self.inner.prepare_proposal(req).await
    }
    async fn process_proposal(
        &self,
        req: cairn_abci::ProcessProposalRequest,
    ) -> cairn_abci::AppResult<cairn_abci::ProposalStatus> {
        self.inner.process_proposal(req).await
    }
    async fn finalize_block(
        &self,
        req: cairn_abci::FinalizeBlockRequest,
    ) -> cairn_abci::AppResult<cairn_abci::FinalizeBlockResponse> {
        let height = req.height.0;
        let mut r = self.inner.finalize_block(req).await?;
        if height == self.at {
            r.consensus_param_updates = Some(cairn_abci::ConsensusParams {
                engine_switch: Some(cairn_abci::EngineSwitch {
                    engine: cairn_abci::EngineKind::Bft,
                    height: cairn_primitives::Height(self.switch_height),
                }),
                ..cairn_abci::ConsensusParams::default()
            });
        }
        Ok(r)
    }
    async fn commit(&self) -> cairn_abci::AppResult<cairn_abci::CommitResponse> {
        self.inner.commit().await
    }
    async fn query(&self, req: QueryRequest) -> cairn_abci::AppResult<cairn_abci::QueryResponse> {
        self.inner.query(req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engine_switch_at_a_height_without_restart() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("switch", 4);
    let genesis = genesis("switch", &keys);
    let nodes = start_p2p_net(dir.path(), &keys, &genesis, |_| {
        Arc::new(SwitchAt { inner: KvStore::new(), at: 2, switch_height: 5 }) as Arc<dyn Application>
    })
    .await?;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, 4, Duration::from_secs(30)).await?;
    // Txs go through the new engine instance.
    submit_and_check(&handles, 8).await?;
    wait_height(&handles, 8, Duration::from_secs(30)).await?;
    for h in &handles {
        assert_eq!(h.counters().engine_switches, 1, "each node switched once, at height 5");
        assert_eq!(h.counters().evidence, 0);
    }
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}
