use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_p2p::{NetEvent, Network, NetworkHandle, P2pConfig, PeerAddr, Topic};
use cairn_primitives::{ChainId, Keypair, PublicKey};

pub const WAIT: Duration = Duration::from_secs(10);

pub fn chain() -> ChainId {
    "p2p-test".parse().expect("valid chain id")
}

pub fn key(i: u64) -> Keypair {
    Keypair::derived("cairn-p2p-tests", i)
}

/// Short timers so scenarios finish in seconds.
pub fn config(listen: SocketAddr, bootstrap: Vec<PeerAddr>) -> P2pConfig {
    let mut c = P2pConfig::new(chain(), listen);
    c.bootstrap = bootstrap;
    c.heartbeat = Duration::from_millis(50);
    c.redial_initial = Duration::from_millis(50);
    c.redial_max = Duration::from_millis(400);
    c.ban_duration = Duration::from_secs(2);
    c.max_consensus_bytes = 64 * 1024;
    c.max_message_bytes = 256 * 1024;
    c
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub struct Node {
    pub key: Keypair,
    pub net: NetworkHandle,
    pub events: cairn_p2p::NetEvents,
}

impl Node {
    pub async fn start(i: u64, cfg: P2pConfig) -> Result<Node> {
        let key = key(i);
        let (net, events) = Network::start(&key, cfg).await?;
        Ok(Node { key, net, events })
    }

    pub fn pk(&self) -> PublicKey {
        self.key.public()
    }

    pub fn addr(&self) -> PeerAddr {
        self.net.local_peer_addr()
    }

    /// Waits for the first event `pick` maps to `Some`, skipping others.
    pub async fn next<T>(&mut self, mut pick: impl FnMut(NetEvent) -> Option<T>) -> Result<T> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .context("timed out waiting for an event")?
                .context("event stream closed")?;
            if let Some(t) = pick(ev) {
                return Ok(t);
            }
        }
    }

    pub async fn next_gossip(&mut self) -> Result<(PublicKey, Topic, Vec<u8>)> {
        self.next(|e| match e {
            NetEvent::Gossip { from, topic, data } => Some((from, topic, data)),
            _ => None,
        })
        .await
    }
}

/// Polls until `cond` holds, failing after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut cond: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while start.elapsed() < WAIT {
        if cond().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("timed out waiting for: {what}")
}

/// Waits until every node sees `n - 1` peers subscribed to every topic (broadcasts then reach everyone).
pub async fn wait_for_mesh(nets: &[NetworkHandle], direct_peers: usize) -> Result<()> {
    for net in nets {
        for topic in Topic::ALL {
            eventually("gossip subscriptions", || async {
                net.gossip_peers(topic).await.len() >= direct_peers
            })
            .await?;
        }
    }
    Ok(())
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
