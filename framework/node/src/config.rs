//! The node's configuration file (`config/config.toml` under the node's home).
//!
//! Every section has defaults, so a minimal file is valid; unknown keys are rejected so a typo never silently
//! falls back to a default. Errors name the file, the field (`mempool.max_txs`) and the line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_primitives::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

/// Where a config file lives under a node's home, by convention.
pub const CONFIG_FILE: &str = "config/config.toml";
/// The default consensus (validator) key file under a node's home (CometBFT's name).
pub const VALIDATOR_KEY_FILE: &str = "config/priv_validator_key.json";
/// The default p2p key file under a node's home (CometBFT's name; before the keys were split it held the
/// validator key).
pub const P2P_KEY_FILE: &str = "config/node_key.json";

/// Why a config or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: field `{field}`: {message}{}", location(*line, *column))]
    Parse { path: PathBuf, field: String, message: String, line: Option<usize>, column: Option<usize> },
    #[error("{path}: field `{field}`: {reason}")]
    Invalid { path: PathBuf, field: String, reason: String },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// The whole config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// A human name for logs and status.
    pub moniker: String,
    /// The node's consensus (validator) key (JSON, see [`NodeKeyFile`]), mode 0600; relative paths are under
    /// the home directory. Homes written before the p2p key was separate name `config/node_key.json` here;
    /// `crate::keys` migrates them on start.
    pub key_file: PathBuf,
    /// The node's p2p key (same JSON format): its libp2p identity, apart from the consensus key so that the
    /// network never needs the validator secret. Created on start when missing.
    pub node_key_file: PathBuf,
    /// The chain's genesis (JSON, see `crate::Genesis`).
    pub genesis_file: PathBuf,
    /// Block store, WAL and anything else the node persists.
    pub data_dir: PathBuf,
    /// fsync the block store and WAL. Turning it off is only for throw-away test networks: a crash may then
    /// lose a vote record and lead to a double vote.
    pub fsync: bool,
    pub p2p: P2pSection,
    pub api: ApiSection,
    pub app: AppSection,
    pub mempool: MempoolSection,
    pub consensus: ConsensusSection,
    pub sync: SyncSection,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            moniker: "cairn-node".into(),
            key_file: VALIDATOR_KEY_FILE.into(),
            node_key_file: P2P_KEY_FILE.into(),
            genesis_file: "config/genesis.json".into(),
            data_dir: "data".into(),
            fsync: true,
            p2p: P2pSection::default(),
            api: ApiSection::default(),
            app: AppSection::default(),
            mempool: MempoolSection::default(),
            consensus: ConsensusSection::default(),
            sync: SyncSection::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pSection {
    /// Address to listen on for peers (`host:port`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Peers to dial at start: `host:port`, or `PUBKEYHEX@host:port` to also pin the peer's consensus key.
    pub bootstrap: Vec<String>,
    /// Largest p2p message accepted or sent.
    pub max_message_bytes: usize,
}

impl Default for P2pSection {
    fn default() -> Self {
        P2pSection {
            listen: SocketAddr::from(([0, 0, 0, 0], 26656)),
            bootstrap: Vec::new(),
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A bootstrap peer: an address and, if given, the consensus key expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapPeer {
    pub key: Option<PublicKey>,
    pub addr: SocketAddr,
}

impl BootstrapPeer {
    pub fn parse(s: &str) -> Result<BootstrapPeer, String> {
        let (key, addr) = match s.split_once('@') {
            Some((k, a)) => (Some(PublicKey::from_hex(k).map_err(|e| e.to_string())?), a),
            None => (None, s),
        };
        let addr = addr.parse().map_err(|e| format!("{addr:?} is not host:port ({e})"))?;
        Ok(BootstrapPeer { key, addr })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// gRPC node API (`cairn.node.v1`).
    pub grpc: SocketAddr,
    /// JSON over HTTP.
    pub http: SocketAddr,
    /// Prometheus metrics.
    pub metrics: SocketAddr,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            grpc: SocketAddr::from(([127, 0, 0, 1], 26660)),
            http: SocketAddr::from(([127, 0, 0, 1], 26661)),
            metrics: SocketAddr::from(([127, 0, 0, 1], 26662)),
        }
    }
}

/// How the node reaches its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppMode {
    /// The app runs inside the node's process (`app.name` says which).
    InProcess,
    /// The app is a gRPC server at `app.address`.
    Grpc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppSection {
    pub mode: AppMode,
    /// In-process: which built-in app (`exec` for the Wasm host, `kvstore` for the example).
    pub name: String,
    /// gRPC: where the app listens, e.g. `http://127.0.0.1:26658`.
    pub address: String,
    /// Deadline for one app call over gRPC.
    pub timeout_ms: u64,
    /// This node's lowest price per unit of fuel for txs it admits to its mempool (in-process `exec` app; like
    /// Cosmos SDK's `minimum-gas-prices`). Never part of consensus: blocks from others may hold cheaper txs.
    /// Txs at price 0 that spend a quota are not affected.
    pub min_price: u64,
    /// Testing only: sleep this long before every FinalizeBlock, to play a slow application (reliability's
    /// `--slow-app`). 0 (the default) in every real deployment.
    pub test_finalize_delay_ms: u64,
}

impl Default for AppSection {
    fn default() -> Self {
        AppSection {
            mode: AppMode::InProcess,
            name: "exec".into(),
            address: "http://127.0.0.1:26658".into(),
            timeout_ms: 10_000,
            min_price: 0,
            test_finalize_delay_ms: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolSection {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_tx_bytes: usize,
    pub max_per_sender: usize,
    /// A tx not included within this many blocks is dropped.
    pub ttl_blocks: u64,
    /// Gossip txs accepted from clients to peers.
    pub gossip: bool,
}

impl Default for MempoolSection {
    fn default() -> Self {
        MempoolSection {
            max_txs: 50_000,
            max_bytes: 64 * 1024 * 1024,
            // Large enough for a module upload (modules are capped at 4 MiB).
            max_tx_bytes: cairn_primitives::MAX_TX_BYTES,
            max_per_sender: 1_000,
            ttl_blocks: 100,
            gossip: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusSection {
    /// How long a validator waits for the view's leader to propose before voting to skip the view.
    pub leader_timeout_ms: u64,
    /// How long a validator waits for a notarized proposal to finalize before voting to skip the view.
    pub notarization_timeout_ms: u64,
    /// How often a skip vote is re-broadcast while a view stays stuck.
    pub nullify_retry_ms: u64,
    /// When the mempool is empty, a leader proposes an empty block only after this long; a block with txs is
    /// proposed at once. Keeps an idle chain from spinning the CPU while it still advances.
    pub empty_block_interval_ms: u64,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            leader_timeout_ms: 1_500,
            notarization_timeout_ms: 2_000,
            nullify_retry_ms: 1_000,
            empty_block_interval_ms: 1_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSection {
    /// Most blocks asked for (and served) in one request.
    pub max_blocks_per_request: u32,
    /// Most bytes of blocks and certificates served in one response.
    pub max_response_bytes: usize,
    /// How long to wait for a peer's answer before asking another.
    pub request_timeout_ms: u64,
}

impl Default for SyncSection {
    fn default() -> Self {
        SyncSection {
            max_blocks_per_request: 64,
            max_response_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 5_000,
        }
    }
}

impl NodeConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        NodeConfig::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = parse_toml(text, path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what the types cannot: positive limits and well-formed bootstrap peers.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason: reason.to_string(),
        };
        for (i, peer) in self.p2p.bootstrap.iter().enumerate() {
            BootstrapPeer::parse(peer).map_err(|e| invalid(&format!("p2p.bootstrap[{i}]"), &e))?;
        }
        let positive: [(&str, u64); 12] = [
            ("p2p.max_message_bytes", self.p2p.max_message_bytes as u64),
            ("app.timeout_ms", self.app.timeout_ms),
            ("mempool.max_txs", self.mempool.max_txs as u64),
            ("mempool.max_bytes", self.mempool.max_bytes as u64),
            ("mempool.max_tx_bytes", self.mempool.max_tx_bytes as u64),
            ("mempool.max_per_sender", self.mempool.max_per_sender as u64),
            ("mempool.ttl_blocks", self.mempool.ttl_blocks),
            ("consensus.leader_timeout_ms", self.consensus.leader_timeout_ms),
            ("consensus.notarization_timeout_ms", self.consensus.notarization_timeout_ms),
            ("sync.max_blocks_per_request", u64::from(self.sync.max_blocks_per_request)),
            ("sync.max_response_bytes", self.sync.max_response_bytes as u64),
            ("sync.request_timeout_ms", self.sync.request_timeout_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(invalid(field, "must be greater than 0"));
            }
        }
        if self.consensus.nullify_retry_ms == 0 {
            return Err(invalid("consensus.nullify_retry_ms", "must be greater than 0"));
        }
        if self.consensus.empty_block_interval_ms >= self.consensus.leader_timeout_ms {
            // Validators would give up on an idle leader exactly when it proposes its empty block.
            return Err(invalid(
                "consensus.empty_block_interval_ms",
                "must be below consensus.leader_timeout_ms (an idle leader must propose before peers time out)",
            ));
        }
        if self.mempool.max_tx_bytes > self.mempool.max_bytes {
            return Err(invalid("mempool.max_tx_bytes", "must not exceed mempool.max_bytes"));
        }
        if self.app.mode == AppMode::Grpc && self.app.address.trim().is_empty() {
            return Err(invalid("app.address", "required when app.mode = \"grpc\""));
        }
        Ok(())
    }

    /// The config as TOML text (what `cairn init` writes).
    pub fn to_toml(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Bootstrap peers, parsed (already validated by [`NodeConfig::validate`]).
    pub fn bootstrap_peers(&self) -> Vec<BootstrapPeer> {
        self.p2p.bootstrap.iter().filter_map(|p| BootstrapPeer::parse(p).ok()).collect()
    }

    /// A path from the config, made absolute against the node's home.
    pub fn resolve(home: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { home.join(p) }
    }
}

/// Deserializes TOML, reporting the dotted path of the field that failed and its line.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let to_err = |field: String, e: toml::de::Error| {
        let (line, column) = match e.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError::Parse { path: path.to_path_buf(), field, message: e.message().to_string(), line, column }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| to_err("(syntax)".into(), e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "(top level)".to_string() } else { field };
        to_err(field, e.into_inner())
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A key file (the validator key or the p2p key): an ed25519 key pair as hex.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeKeyFile {
    pub public_key: PublicKey,
    pub secret_key: String,
}

impl NodeKeyFile {
    /// Reads a key file and checks the public key matches the secret.
    pub fn load(path: &Path) -> Result<Keypair, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let file: NodeKeyFile = parse_json(&text, path)?;
        let key = Keypair::from_secret_hex(&file.secret_key).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: "secret_key".into(),
            reason: e.to_string(),
        })?;
        if key.public() != file.public_key {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field: "public_key".into(),
                reason: "does not belong to secret_key".into(),
            });
        }
        tighten_permissions(path)?;
        Ok(key)
    }

    /// Writes a key file readable only by its owner.
    pub fn write(path: &Path, key: &Keypair) -> Result<(), ConfigError> {
        let file = NodeKeyFile { public_key: key.public(), secret_key: key.secret_hex() };
        let text = serde_json::to_string_pretty(&file).unwrap_or_default();
        let werr = |source| ConfigError::Write { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        std::fs::write(path, text).map_err(werr)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(werr)?;
        }
        Ok(())
    }
}

/// A secret key file others can read is fixed on load (homes written before keys were 0600, or copied around):
/// owner read/write only, with a warning that says so.
fn tighten_permissions(path: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let werr = |source| ConfigError::Write { path: path.to_path_buf(), source };
        let mode = std::fs::metadata(path).map_err(werr)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
                "the secret key file was readable by others: set to 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(werr)?;
        }
    }
    Ok(())
}

/// Deserializes JSON, reporting the dotted path of the field that failed and its line.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "(top level)".to_string() } else { field };
        let inner = e.into_inner();
        ConfigError::Parse {
            path: path.to_path_buf(),
            field,
            message: strip_json_position(&inner.to_string()),
            line: Some(inner.line()),
            column: Some(inner.column()),
        }
    })?;
    de.end().map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        field: "(top level)".into(),
        message: strip_json_position(&e.to_string()),
        line: Some(e.line()),
        column: Some(e.column()),
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C"; we report the position ourselves.
fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("config.toml")
    }

    #[test]
    fn default_round_trips() {
        let c = NodeConfig::default();
        let back = NodeConfig::parse(&c.to_toml(), p()).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn minimal_file_is_valid() {
        let c = NodeConfig::parse("moniker = \"n0\"\n", p()).unwrap();
        assert_eq!(c.moniker, "n0");
        assert_eq!(c.mempool, MempoolSection::default());
    }

    #[test]
    fn wrong_type_names_field_and_line() {
        let text = "moniker = \"n0\"\n[mempool]\nmax_txs = \"many\"\n";
        let err = NodeConfig::parse(text, p()).unwrap_err().to_string();
        assert!(err.contains("mempool.max_txs"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("config.toml"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let err = NodeConfig::parse("[consensus]\nleader_timout_ms = 5\n", p()).unwrap_err().to_string();
        assert!(err.contains("leader_timout_ms"), "{err}");
        assert!(err.contains("consensus"), "{err}");
    }

    #[test]
    fn bad_address_names_field() {
        let err = NodeConfig::parse("[api]\ngrpc = \"localhost\"\n", p()).unwrap_err().to_string();
        assert!(err.contains("api.grpc"), "{err}");
    }

    #[test]
    fn zero_limit_and_bad_peer_rejected() {
        let err = NodeConfig::parse("[mempool]\nmax_txs = 0\n", p()).unwrap_err().to_string();
        assert!(err.contains("mempool.max_txs") && err.contains("greater than 0"), "{err}");
        let err = NodeConfig::parse("[p2p]\nbootstrap = [\"zz@1.2.3.4:5\"]\n", p()).unwrap_err().to_string();
        assert!(err.contains("p2p.bootstrap[0]"), "{err}");
    }

    #[test]
    fn empty_block_interval_must_be_below_leader_timeout() {
        let text = "[consensus]\nleader_timeout_ms = 500\nempty_block_interval_ms = 500\n";
        let err = NodeConfig::parse(text, p()).unwrap_err().to_string();
        assert!(err.contains("consensus.empty_block_interval_ms"), "{err}");
    }

    #[test]
    fn syntax_error_has_line() {
        let err = NodeConfig::parse("moniker = \"n0\"\n[mempool\n", p()).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bootstrap_peer_forms() {
        let k = Keypair::derived("t", 0).public();
        let a = BootstrapPeer::parse(&format!("{}@127.0.0.1:9", k.to_hex())).unwrap();
        assert_eq!(a.key, Some(k));
        assert_eq!(BootstrapPeer::parse("127.0.0.1:9").unwrap().key, None);
    }

    #[test]
    fn key_file_round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let k = Keypair::derived("t", 1);
        NodeKeyFile::write(&path, &k).unwrap();
        assert_eq!(NodeKeyFile::load(&path).unwrap().public(), k.public());
        let other = NodeKeyFile { public_key: Keypair::derived("t", 2).public(), secret_key: k.secret_hex() };
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        let err = NodeKeyFile::load(&path).err().unwrap().to_string();
        assert!(err.contains("public_key"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_made_private_on_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        NodeKeyFile::write(&path, &Keypair::derived("t", 3)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "written private");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        NodeKeyFile::load(&path).unwrap();
        assert_eq!(mode(&path), 0o600, "an old world-readable key file is fixed on load");
    }
}
