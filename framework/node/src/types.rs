//! What the node tells the outside world: its status, its events, and where a tx landed.

use cairn_abci::{EngineKind, TxResult};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator};
use serde::{Deserialize, Serialize};

/// A snapshot of where the node is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub chain_id: ChainId,
    /// Last finalized and committed height (0 before the first block).
    pub height: Height,
    /// The app hash after `height` (goes into the header of `height + 1`).
    pub app_hash: Hash,
    /// Id of the block at `height` (`Hash::ZERO` before the first block).
    pub last_block_id: Hash,
    /// Proposer time of the block at `height`, ms since the Unix epoch.
    pub last_block_time_ms: u64,
    /// The validator set deciding `height + 1`.
    pub validators: Vec<Validator>,
    /// The engine deciding `height + 1`.
    pub engine: EngineKind,
    /// Connected peers: a validator by its consensus key (proven by its binding), anyone else by its p2p key.
    pub peers: Vec<PublicKey>,
    /// Peers (connected or not) whose score is below 0, the clean score; a ban comes at -100. An offence (a
    /// malformed or oversized message, a bad block) costs 25-60 points, recovered at one per second.
    #[serde(default)]
    pub peer_scores: std::collections::BTreeMap<PublicKey, i64>,
    /// True while the node fetches blocks it missed instead of taking part in consensus.
    pub catching_up: bool,
    /// This node's consensus (validator) key.
    pub node_key: PublicKey,
    /// This node's p2p key (its libp2p identity; `PeerId` in [`NodeStatus::peer_id`]).
    #[serde(default)]
    pub p2p_key: PublicKey,
    /// Whether this node is in the validator set deciding `height + 1`.
    pub is_validator: bool,
}

impl NodeStatus {
    /// The libp2p `PeerId` of [`NodeStatus::p2p_key`] (what `/p2p/…` multiaddrs name).
    pub fn peer_id(&self) -> String {
        cairn_p2p::peer_id_of(&self.p2p_key).map(|p| p.to_string()).unwrap_or_default()
    }
}

/// Something that happened, pushed to subscribers (the API's event streams, `cairn demo`, tests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A block was finalized, executed and committed.
    NewBlock {
        height: Height,
        id: Hash,
        num_txs: u32,
        /// Proposer time from the header, ms since the Unix epoch.
        time_ms: u64,
        /// This node's wall clock when the block was committed, ms since the Unix epoch.
        finalized_at_ms: u64,
        /// How long the application's `FinalizeBlock` and `Commit` took for this block, in µs.
        #[serde(default)]
        finalize_us: u64,
        #[serde(default)]
        commit_us: u64,
    },
    /// A tx was finalized (successfully or not: see `result.code`).
    Tx { hash: Hash, height: Height, index: u32, result: TxResult },
}

/// Where a finalized tx is and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    pub hash: Hash,
    pub height: Height,
    pub index: u32,
    pub tx: Vec<u8>,
    pub result: TxResult,
}

/// Counters for metrics and tests. Monotonic unless the name says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounters {
    pub blocks_finalized: u64,
    pub txs_finalized: u64,
    /// Blocks fetched and applied by block sync.
    pub blocks_synced: u64,
    /// p2p frames that did not decode or were oversized (dropped; the sender is reported).
    pub malformed_messages: u64,
    /// Blocks (gossiped or synced) rejected: bad certificate, wrong id, wrong header fields.
    pub rejected_blocks: u64,
    /// Inputs the consensus engine refused (its own counters, summed over engines).
    pub engine_dropped: u64,
    /// Evidence of misbehaviour the engine produced.
    pub evidence: u64,
    /// Engine switches performed at a height the consensus params scheduled.
    pub engine_switches: u64,
    /// Current number of txs in the mempool (a gauge).
    pub mempool_txs: u64,
    /// What the p2p layer dropped or punished.
    #[serde(default)]
    pub p2p: NetCounters,
}

/// The p2p layer's drops and punishments (monotonic), for operators: a rising count says which defence is working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCounters {
    /// Consensus, direct, request and block events dropped because the main lane was full (count or bytes).
    pub events_dropped: u64,
    /// Tx gossip dropped because the txs lane was full.
    pub tx_events_dropped: u64,
    /// Inbound messages dropped because their peer exceeded its rate.
    pub rate_limited: u64,
    /// Offences recorded against peers (malformed, oversized, wrong network, reported).
    pub offences: u64,
    /// Bans issued.
    pub bans: u64,
    /// Consensus or block gossip from keys that are not validators: neither delivered nor forwarded.
    #[serde(default)]
    pub gossip_not_forwarded: u64,
    /// Connections closed because every ordinary peer slot was taken (validators hold reserved slots).
    #[serde(default)]
    pub peers_refused: u64,
    /// Messages over our size limit from peers whose limits may be larger: dropped without blame.
    #[serde(default)]
    pub oversized_dropped: u64,
    /// Bytes waiting for the node in the network's main / txs lane (gauges).
    #[serde(default)]
    pub queued_main_bytes: u64,
    #[serde(default)]
    pub queued_tx_bytes: u64,
}

/// Milliseconds since the Unix epoch from the wall clock (0 if the clock is before 1970).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
