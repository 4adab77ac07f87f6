//! Helpers: a chain of N validators, node configs on loopback, waiting for heights.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_abci::{Application, ConsensusParams};
use cairn_node::net::MemoryHub;
use cairn_node::{Genesis, GenesisValidator, Node, NodeConfig, NodeHandle};
use cairn_primitives::{Hash, Height, Keypair};

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn keys(label: &str, n: u64) -> Vec<Keypair> {
    (0..n).map(|i| Keypair::derived(label, i)).collect()
}

pub fn genesis(chain: &str, keys: &[Keypair]) -> Genesis {
    Genesis {
        chain_id: chain.parse().unwrap(),
        initial_height: Height(1),
        genesis_time_ms: 1_700_000_000_000,
        validators: keys
            .iter()
            .map(|k| GenesisValidator { public_key: k.public(), power: 10, name: String::new() })
            .collect(),
        consensus_params: ConsensusParams::default(),
        app_state: serde_json::Value::Null,
    }
}

/// A config for tests: loopback, port 0, short timeouts, fsync on.
pub fn config(bootstrap: Vec<String>) -> NodeConfig {
    let mut c = NodeConfig::default();
    c.p2p.listen = "127.0.0.1:0".parse().unwrap();
    c.p2p.bootstrap = bootstrap;
    c.consensus.leader_timeout_ms = 1_000;
    c.consensus.empty_block_interval_ms = 300;
    c.sync.request_timeout_ms = 2_000;
    c.fsync = true;
    c
}

/// One node of a test chain and how to (re)start it.
#[allow(dead_code)]
pub struct TestNode {
    pub key: Keypair,
    pub home: PathBuf,
    pub handle: Option<NodeHandle>,
}

impl TestNode {
    pub fn handle(&self) -> &NodeHandle {
        self.handle.as_ref().expect("node is running")
    }
}

pub async fn start(
    home: &Path,
    key: &Keypair,
    genesis: &Genesis,
    config: NodeConfig,
    app: Arc<dyn Application>,
) -> anyhow::Result<NodeHandle> {
    Ok(Node::builder(home).config(config).genesis(genesis.clone()).key(key.clone()).app(app).start().await?)
}

/// Starts `keys.len()` nodes over real libp2p, each bootstrapping to all nodes started before it.
pub async fn start_p2p_net(
    root: &Path,
    keys: &[Keypair],
    genesis: &Genesis,
    app: impl Fn(usize) -> Arc<dyn Application>,
) -> anyhow::Result<Vec<TestNode>> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let home = root.join(format!("node{i}"));
        let bootstrap = peer_addrs(&nodes);
        let handle = start(&home, key, genesis, config(bootstrap), app(i)).await?;
        nodes.push(TestNode { key: key.clone(), home, handle: Some(handle) });
    }
    Ok(nodes)
}

/// `P2PKEY@addr` of every running node (bootstrap entries pin the p2p key, not the validator key).
pub fn peer_addrs(nodes: &[TestNode]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| {
            let handle = n.handle.as_ref()?;
            let addr = handle.p2p_addr()?;
            Some(format!("{}@{addr}", handle.status().p2p_key.to_hex()))
        })
        .collect()
}

/// Starts nodes on an in-memory hub (no sockets).
pub async fn start_memory_net(
    root: &Path,
    hub: &MemoryHub,
    keys: &[Keypair],
    genesis: &Genesis,
    app: impl Fn(usize) -> Arc<dyn Application>,
) -> anyhow::Result<Vec<TestNode>> {
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let home = root.join(format!("node{i}"));
        let (t, rx) = hub.join(key.public(), 8192);
        let handle = Node::builder(&home)
            .config(config(vec![]))
            .genesis(genesis.clone())
            .key(key.clone())
            .app(app(i))
            .transport(t, rx)
            .start()
            .await?;
        nodes.push(TestNode { key: key.clone(), home, handle: Some(handle) });
    }
    Ok(nodes)
}

/// Waits until every given node has committed `height`.
pub async fn wait_height(handles: &[&NodeHandle], height: u64, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let heights: Vec<u64> = handles.iter().map(|h| h.status().height.0).collect();
        if heights.iter().all(|h| *h >= height) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("nodes did not reach height {height} within {within:?}: heights {heights:?}");
        }
        for h in handles {
            if let Some(e) = h.fatal_error() {
                bail!("a node stopped: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a tx is finalized on `node`.
pub async fn wait_tx(
    node: &NodeHandle,
    hash: &Hash,
    within: Duration,
) -> anyhow::Result<cairn_node::TxRecord> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(r) = node.tx(hash)? {
            return Ok(r);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("tx {hash} not finalized within {within:?} (node at height {})", node.status().height);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that all nodes hold the same block at every height `1..=height`.
pub fn assert_same_chain(handles: &[&NodeHandle], height: u64) -> anyhow::Result<()> {
    for h in 1..=height {
        let mut ids = Vec::new();
        for node in handles {
            let (block, cert) = node.block(Height(h))?.with_context(|| format!("block {h} missing"))?;
            assert!(!cert.is_empty(), "block {h} has no certificate");
            ids.push(block.id());
        }
        if ids.windows(2).any(|w| w[0] != w[1]) {
            bail!("nodes disagree at height {h}: {ids:?}");
        }
    }
    Ok(())
}
