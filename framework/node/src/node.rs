//! Node assembly: config + genesis + key + app + store + network → handshake → driver → [`NodeHandle`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_abci::{Application, ClientConfig, RemoteApp};
use cairn_consensus::Signer as _;
use cairn_mempool::{Mempool, MempoolConfig};
use cairn_p2p::Binding;
use cairn_primitives::{Hash, Keypair};
use cairn_store::{BlockStore, Wal};
use tokio::sync::{Mutex, broadcast, mpsc, watch};
use tracing::{error, info};

use crate::config::{AppMode, CONFIG_FILE, NodeConfig};
use crate::driver::{Driver, DriverParts};
use crate::engines::EngineFactory;
use crate::error::NodeError;
use crate::genesis::Genesis;
use crate::gossip_filter::ValidatorGossip;
use crate::handle::{NodeHandle, Tasks};
use crate::handshake::handshake;
use crate::intake::{self, GossipTxs, TX_INGEST_QUEUE};
use crate::keys::{NodeKeys, load_or_create_p2p};
use crate::net::{NetEvent, Transport};
use crate::p2p_transport::P2pTransport;
use crate::shared::{BodyCache, Counters, Shared};
use crate::signer::GuardedSigner;
use crate::types::NodeStatus;

/// Capacity of the event broadcast channel (subscribers further behind skip ahead).
const EVENT_CHANNEL: usize = 16_384;

/// Entry point for assembling a node.
pub struct Node;

impl Node {
    /// A node whose home directory is `home` (config at `config/config.toml` unless given explicitly).
    pub fn builder(home: impl Into<PathBuf>) -> NodeBuilder {
        NodeBuilder {
            home: home.into(),
            config: None,
            genesis: None,
            key: None,
            p2p_key: None,
            app: None,
            transport: None,
        }
    }
}

/// Starts a node from its home directory with the given application.
pub async fn start(home: &Path, app: Arc<dyn Application>) -> Result<NodeHandle, NodeError> {
    Node::builder(home).app(app).start().await
}

/// The application a config names when it is out of process (`app.mode = "grpc"`); `None` for in-process
/// apps, which the caller constructs (the CLI picks them by `app.name`).
pub async fn connect_app(config: &NodeConfig) -> Result<Option<Arc<dyn Application>>, NodeError> {
    if config.app.mode != AppMode::Grpc {
        return Ok(None);
    }
    let client =
        ClientConfig { timeout: Duration::from_millis(config.app.timeout_ms), ..ClientConfig::default() };
    let app = RemoteApp::connect(config.app.address.clone(), client).await?;
    Ok(Some(Arc::new(app)))
}

pub struct NodeBuilder {
    home: PathBuf,
    config: Option<NodeConfig>,
    genesis: Option<Genesis>,
    key: Option<Keypair>,
    p2p_key: Option<Keypair>,
    app: Option<Arc<dyn Application>>,
    transport: Option<(Arc<dyn Transport>, mpsc::Receiver<NetEvent>)>,
}

impl NodeBuilder {
    /// Use this config instead of reading `config/config.toml`.
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Use this genesis instead of reading the config's `genesis_file`.
    pub fn genesis(mut self, genesis: Genesis) -> Self {
        self.genesis = Some(genesis);
        self
    }

    /// Use this consensus (validator) key instead of reading the config's `key_file` (the home is then not
    /// migrated).
    pub fn key(mut self, key: Keypair) -> Self {
        self.key = Some(key);
        self
    }

    /// Use this p2p key instead of reading (or creating) the config's `node_key_file`.
    pub fn p2p_key(mut self, key: Keypair) -> Self {
        self.p2p_key = Some(key);
        self
    }

    /// The application (required for `app.mode = "in-process"`; for `grpc` the node connects itself).
    pub fn app(mut self, app: Arc<dyn Application>) -> Self {
        self.app = Some(app);
        self
    }

    /// Use this network instead of starting libp2p (the in-memory hub of tests).
    pub fn transport(mut self, transport: Arc<dyn Transport>, events: mpsc::Receiver<NetEvent>) -> Self {
        self.transport = Some((transport, events));
        self
    }

    pub async fn start(self) -> Result<NodeHandle, NodeError> {
        let home = self.home;
        let mut config = match self.config {
            Some(c) => c,
            None => NodeConfig::load(&home.join(CONFIG_FILE))?,
        };
        let genesis = match self.genesis {
            Some(g) => g,
            None => Genesis::load(&NodeConfig::resolve(&home, &config.genesis_file))?,
        };
        let (key, p2p_key) = match (self.key, self.p2p_key) {
            (Some(k), Some(p)) => (k, p),
            (Some(k), None) => (k, load_or_create_p2p(&NodeConfig::resolve(&home, &config.node_key_file))?),
            (None, p2p) => {
                // `cairn start` lands here: an old single-key home is migrated first.
                let keys = NodeKeys::load(&home, &mut config)?;
                (keys.validator, p2p.unwrap_or(keys.p2p))
            }
        };
        let app = match self.app {
            Some(app) => app,
            None => connect_app(&config).await?.ok_or_else(|| {
                NodeError::Internal(format!(
                    "app.mode is \"in-process\" (app.name = {:?}): the caller must pass the application \
                     (Node::builder(..).app(..)); `cairn start` does this",
                    config.app.name
                ))
            })?,
        };

        let data = NodeConfig::resolve(&home, &config.data_dir);
        std::fs::create_dir_all(&data)
            .map_err(|source| crate::ConfigError::Write { path: data.clone(), source })?;
        let store = Arc::new(BlockStore::open(&data.join("blocks.redb"), config.fsync)?);
        let wal = Wal::open(&data.join("wal.redb"))?;

        // Every signature by the validator key goes through this signer: votes past its guard, the binding beside it.
        let wal_heights: Vec<cairn_primitives::Height> = wal.records()?.into_iter().map(|(h, _)| h).collect();
        let signer = GuardedSigner::open(key.clone(), &data, &wal_heights)?;

        // Handshake before the network: a node that cannot agree with its app must not take part.
        let (state, report) = handshake(&*app, &store, &genesis).await?;
        info!(height = %state.height, replayed = report.replayed, initialised = report.initialised,
            app_hash = %state.app_hash, "handshake done");

        // Gossiped txs go to this intake: libp2p's txs lane feeds it directly, so consensus never queues behind them.
        let (tx_ingest, ingest_rx) = mpsc::channel::<GossipTxs>(TX_INGEST_QUEUE);
        let gossip = Arc::new(ValidatorGossip::new(&state));
        let (net, net_rx, p2p_addr): (Arc<dyn Transport>, _, Option<SocketAddr>) = match self.transport {
            Some((t, rx)) => (t, rx, None),
            None => {
                let filter = gossip.clone();
                // Our consensus key vouches for our p2p key, so peers treat this connection as our validator.
                let binding =
                    Binding::sign_with(&genesis.chain_id, signer.public_key(), p2p_key.public(), |c, m| {
                        signer.sign_handshake(c, m)
                    })
                    .map_err(|e| NodeError::Internal(e.to_string()))?;
                let (t, rx, addr) = P2pTransport::start(
                    &p2p_key,
                    binding,
                    &config,
                    genesis.chain_id.clone(),
                    tx_ingest.clone(),
                    filter,
                )
                .await?;
                (t, rx, Some(addr))
            }
        };

        let mempool = Mempool::new(MempoolConfig {
            max_txs: config.mempool.max_txs,
            max_bytes: config.mempool.max_bytes,
            max_tx_bytes: config.mempool.max_tx_bytes,
            max_per_sender: config.mempool.max_per_sender,
            ttl_blocks: config.mempool.ttl_blocks,
            ..MempoolConfig::default()
        });
        let status = NodeStatus {
            chain_id: genesis.chain_id.clone(),
            height: state.height,
            app_hash: state.app_hash,
            last_block_id: state.last_block_id,
            last_block_time_ms: state.last_block_time_ms,
            validators: state.next.validators().to_vec(),
            engine: state.engine(),
            peers: Vec::new(),
            peer_scores: Default::default(),
            catching_up: false,
            node_key: key.public(),
            p2p_key: p2p_key.public(),
            is_validator: state.next.contains(&key.public()),
        };
        let (status_tx, _) = watch::channel(status);
        let (events, _) = broadcast::channel(EVENT_CHANNEL);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            chain_id: genesis.chain_id.clone(),
            config: config.clone(),
            genesis: genesis.clone(),
            app,
            store: std::sync::RwLock::new(Some(store)),
            mempool: Arc::new(Mutex::new(mempool)),
            net,
            status: status_tx,
            events,
            counters: Counters::default(),
            bodies: std::sync::Mutex::new(BodyCache::default()),
            admission: Mutex::new(()),
            gossip,
            tx_notify: tokio::sync::Notify::new(),
            shutdown,
            fatal: std::sync::Mutex::new(None),
        });

        // Txs gossiped by peers: CheckTx off the driver's path, forwarded only if admitted.
        let ingest = intake::spawn(shared.clone(), ingest_rx);

        let genesis_hash: Hash = genesis.hash();
        let factory = EngineFactory {
            chain_id: genesis.chain_id.clone(),
            signer: Arc::new(signer),
            seed: genesis_hash,
            leader_timeout_ms: config.consensus.leader_timeout_ms,
        };
        let driver =
            Driver::new(DriverParts { shared: shared.clone(), key, factory, state, wal, net_rx, tx_ingest })?;
        let driver_shared = shared.clone();
        let driver_task = tokio::spawn(async move {
            if let Err(e) = driver.run().await {
                error!(error = %e, "node stopped on an error");
                *driver_shared.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
            driver_shared.shutdown.send_replace(true);
        });
        let tasks = Arc::new(Tasks {
            shared: shared.clone(),
            driver: Mutex::new(Some(driver_task)),
            others: std::sync::Mutex::new(vec![ingest]),
        });
        Ok(NodeHandle { shared, tasks, p2p_addr })
    }
}
