//! Building chains from a template: the genesis document, node homes (key, config, genesis) and localnet
//! layouts with free loopback ports. `init`, `new`, `localnet`, `demo`, `bench` and the reliability tests share it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_abci::ConsensusParams;
use cairn_node::config::{ApiSection, CONFIG_FILE};
use cairn_node::{Genesis, GenesisValidator, NodeConfig, NodeKeyFile};
use cairn_primitives::{ChainId, Height, Keypair, PublicKey};

use super::template::{self, Template};

/// One genesis validator: its key and a name.
#[derive(Clone, Debug)]
pub struct ValidatorSpec {
    pub public_key: PublicKey,
    pub name: String,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The genesis of a chain made from `t` with these validators.
pub fn genesis(t: &Template, chain_id: &ChainId, validators: &[ValidatorSpec]) -> Result<Genesis> {
    if validators.is_empty() {
        bail!("a chain needs at least one validator");
    }
    let consensus_params = ConsensusParams {
        max_block_bytes: t.block.max_block_bytes,
        max_block_txs: t.block.max_block_txs,
        engine: t.engine,
        engine_switch: t.engine_switch,
    };
    Ok(Genesis {
        chain_id: chain_id.clone(),
        initial_height: Height(1),
        genesis_time_ms: now_ms(),
        validators: validators
            .iter()
            .map(|v| GenesisValidator {
                public_key: v.public_key,
                power: t.validator_power,
                name: v.name.clone(),
            })
            .collect(),
        consensus_params,
        app_state: super::appstate::app_state(t, chain_id, validators)?,
    })
}

/// Where one node of a localnet listens.
#[derive(Clone, Debug)]
pub struct NodePorts {
    pub p2p: SocketAddr,
    pub api: ApiSection,
}

/// A free loopback port for a node to listen on.
///
/// The port is bound, then released, and the node binds it again later; in between, something else could take
/// it. Asking the OS for port 0 would hand out a port from the *ephemeral* range — exactly where the outgoing
/// connections of the other nodes get their local ports, so a busy localnet regularly stole a chosen port before
/// its node started. So ports come from below the ephemeral range (Linux: `ip_local_port_range`), where only
/// explicit binds land, walking from a per-process start so that parallel runs rarely probe the same ports.
pub fn free_port() -> Result<SocketAddr> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 20_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .unwrap_or(32_768);
    if ephemeral_low > LOWEST + 1_000 {
        let span = ephemeral_low - LOWEST;
        let start = std::process::id().wrapping_mul(2_654_435_761) % span;
        for _ in 0..2_000 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = LOWEST + start.wrapping_add(n.wrapping_mul(7_919)) % span;
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port as u16)) {
                return l.local_addr().context("cannot read the bound port");
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    l.local_addr().context("cannot read the bound port")
}

impl NodePorts {
    pub fn free() -> Result<NodePorts> {
        Ok(NodePorts {
            p2p: free_port()?,
            api: ApiSection { grpc: free_port()?, http: free_port()?, metrics: free_port()? },
        })
    }
}

/// Writes a node home: `config/priv_validator_key.json` (the validator key), `config/node_key.json` (the p2p
/// key), `config/config.toml`, `config/genesis.json`.
pub fn write_home(
    home: &Path,
    key: &Keypair,
    p2p_key: &Keypair,
    config: &NodeConfig,
    genesis: &Genesis,
) -> Result<()> {
    let key_path = NodeConfig::resolve(home, &config.key_file);
    NodeKeyFile::write(&key_path, key)
        .with_context(|| format!("cannot write the validator key in {}", home.display()))?;
    let p2p_path = NodeConfig::resolve(home, &config.node_key_file);
    NodeKeyFile::write(&p2p_path, p2p_key)
        .with_context(|| format!("cannot write the p2p key in {}", home.display()))?;
    let config_path = home.join(CONFIG_FILE);
    write_file(&config_path, &config.to_toml())?;
    write_file(&NodeConfig::resolve(home, &config.genesis_file), &genesis.to_json())?;
    // Re-read both through the node's own parsers: what we wrote must be what `cairn start` accepts.
    NodeConfig::load(&config_path).context("the config just written does not load")?;
    Genesis::load(&NodeConfig::resolve(home, &config.genesis_file))
        .context("the genesis just written does not load")?;
    Ok(())
}

/// Changes a written node's `config/config.toml` (scenarios that need a knob the layout does not set).
pub fn edit_config(home: &Path, change: impl FnOnce(&mut NodeConfig)) -> Result<()> {
    let path = home.join(CONFIG_FILE);
    let mut config = NodeConfig::load(&path).with_context(|| format!("cannot read {}", path.display()))?;
    change(&mut config);
    write_file(&path, &config.to_toml())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses to overwrite an existing home unless `force`.
pub fn check_fresh(home: &Path, force: bool) -> Result<()> {
    if home.join(CONFIG_FILE).exists() && !force {
        bail!(
            "{} already holds a node (config/config.toml exists): pass --force to overwrite its config, key and genesis \
             (its data stays), or choose another --home",
            home.display()
        );
    }
    Ok(())
}

/// One node of a localnet.
#[derive(Clone)]
pub struct LocalNode {
    pub index: usize,
    pub home: PathBuf,
    pub key: Keypair,
    pub ports: NodePorts,
    pub config: NodeConfig,
}

impl LocalNode {
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.ports.api.grpc)
    }
    pub fn log_path(&self) -> PathBuf {
        self.home.join("node.log")
    }
}

/// Options of a localnet layout.
#[derive(Clone, Debug)]
pub struct LocalnetSpec {
    pub validators: usize,
    pub chain_id: ChainId,
    /// fsync the block store and WAL (on for anything measured; see config `fsync`).
    pub fsync: bool,
    /// Deterministic validator keys (derived from the chain id) instead of random ones.
    pub derived_keys: bool,
}

/// Writes `dir/node0 … node{N-1}`: keys, a shared genesis, configs whose bootstrap lists point at each other on
/// loopback. `bootstrap_addr(i, j)` may redirect node i's address for peer j (the partition test's proxies).
pub fn write_localnet(
    dir: &Path,
    t: &Template,
    spec: &LocalnetSpec,
    bootstrap_addr: &dyn Fn(usize, usize, SocketAddr) -> SocketAddr,
) -> Result<Vec<LocalNode>> {
    if spec.validators == 0 || spec.validators > 64 {
        bail!("--validators must be between 1 and 64, got {}", spec.validators);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys: Vec<Keypair> = (0..spec.validators)
        .map(|i| {
            if spec.derived_keys {
                template::validator_key(spec.chain_id.as_str(), i as u64)
            } else {
                Keypair::generate()
            }
        })
        .collect();
    let specs: Vec<ValidatorSpec> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| ValidatorSpec { public_key: k.public(), name: format!("node{i}") })
        .collect();
    let genesis = genesis(t, &spec.chain_id, &specs)?;
    // Bootstrap entries pin each peer's p2p key (its network identity), not its validator key.
    let p2p_keys: Vec<Keypair> = (0..spec.validators).map(|_| Keypair::generate()).collect();
    let ports: Vec<NodePorts> = (0..spec.validators).map(|_| NodePorts::free()).collect::<Result<_>>()?;
    let mut nodes = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let home = dir.join(format!("node{i}"));
        check_fresh(&home, false)?;
        let mut config =
            NodeConfig { moniker: format!("node{i}"), fsync: spec.fsync, ..NodeConfig::default() };
        config.p2p.listen = ports[i].p2p;
        config.p2p.bootstrap = (0..spec.validators)
            .filter(|&j| j != i)
            .map(|j| format!("{}@{}", p2p_keys[j].public().to_hex(), bootstrap_addr(i, j, ports[j].p2p)))
            .collect();
        config.api = ports[i].api.clone();
        write_home(&home, &key, &p2p_keys[i], &config, &genesis)?;
        nodes.push(LocalNode { index: i, home, key, ports: ports[i].clone(), config });
    }
    Ok(nodes)
}
