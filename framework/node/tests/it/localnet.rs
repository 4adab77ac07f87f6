//! Four validators finalize blocks with txs over real p2p.

use std::sync::Arc;
use std::time::Duration;

use cairn_abci::{Application, QueryRequest};
use cairn_node::NodeHandle;
use cairn_node::net::MemoryHub;
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
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}
