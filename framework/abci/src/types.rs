//! Domain types of the application boundary. Protobuf types stay at the gRPC edge (`crate::convert`); everything
//! inside cairn uses these.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator};
use serde::{Deserialize, Serialize};

/// `code` of a successful tx / query.
pub const CODE_OK: u32 = 0;

/// Which consensus engine runs the chain.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Simplex-family BFT with rotating leaders (tens to a few hundred validators).
    #[default]
    Bft,
    /// Snowman-family leaderless sampling (hundreds to thousands).
    Snow,
}

/// A scheduled engine change: from `height` on, `engine` finalizes blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EngineSwitch {
    pub engine: EngineKind,
    pub height: Height,
}

/// Chain-wide consensus parameters, set at genesis and changed by `FinalizeBlock` updates.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ConsensusParams {
    /// Most bytes of txs in one block.
    pub max_block_bytes: u64,
    /// Most txs in one block.
    pub max_block_txs: u64,
    /// The engine running now.
    pub engine: EngineKind,
    /// A pending switch to another engine, if any.
    pub engine_switch: Option<EngineSwitch>,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            max_block_bytes: 8 * 1024 * 1024,
            max_block_txs: 20_000,
            engine: EngineKind::Bft,
            engine_switch: None,
        }
    }
}

impl ConsensusParams {
    /// The engine that finalizes `height` under these params.
    pub fn engine_at(&self, height: Height) -> EngineKind {
        match self.engine_switch {
            Some(s) if height >= s.height => s.engine,
            _ => self.engine,
        }
    }
}

/// A key/value pair attached to an event.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EventAttribute {
    pub key: String,
    pub value: String,
}

/// Something that happened during execution, for indexers and subscribers.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Event {
    pub kind: String,
    pub attributes: Vec<EventAttribute>,
}

impl Event {
    pub fn new(kind: impl Into<String>) -> Event {
        Event { kind: kind.into(), attributes: Vec::new() }
    }

    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.attributes.push(EventAttribute { key: key.into(), value: value.into() });
        self
    }
}

/// Misbehaviour reported by consensus, so a Sybil module can slash or jail.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Misbehavior {
    pub kind: MisbehaviorKind,
    pub validator: PublicKey,
    pub height: Height,
}

/// Who signed the certificate that finalized `height` (ABCI 2.0's `decided_last_commit`), as the next block
/// carries it: the same list on every node, whichever votes each node received itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CommitInfo {
    pub height: Height,
    /// Sorted, no duplicates.
    pub signers: Vec<PublicKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum MisbehaviorKind {
    /// Two conflicting signed votes or proposals in one view/round.
    Equivocation,
    /// Missed too many blocks.
    Downtime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoRequest {}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoResponse {
    /// Free-form description of the app.
    pub data: String,
    pub app_version: u64,
    /// Last height the app committed (0 before the first block).
    pub last_height: Height,
    /// The app hash after `last_height`.
    pub last_app_hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitChainRequest {
    pub chain_id: ChainId,
    pub time_ms: u64,
    pub initial_height: Height,
    pub consensus_params: ConsensusParams,
    pub validators: Vec<Validator>,
    /// The `app_state` section of genesis, as JSON bytes.
    pub app_state: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitChainResponse {
    /// Replaces the genesis consensus params if set.
    pub consensus_params: Option<ConsensusParams>,
    /// Replaces the genesis validators if non-empty.
    pub validators: Vec<Validator>,
    pub app_hash: Hash,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckTxKind {
    /// A tx entering the mempool.
    #[default]
    New,
    /// A tx already in the mempool, checked again after a commit.
    Recheck,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTxRequest {
    pub tx: Vec<u8>,
    pub kind: CheckTxKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckTxResponse {
    /// 0 accepts; anything else rejects, with `log` saying why.
    pub code: u32,
    pub log: String,
    pub gas_wanted: u64,
    /// Who sent the tx (the mempool bounds txs per sender); empty if the app has no notion of sender.
    pub sender: Vec<u8>,
    /// Higher goes first in a proposal.
    pub priority: i64,
}

impl CheckTxResponse {
    pub fn is_ok(&self) -> bool {
        self.code == CODE_OK
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareProposalRequest {
    pub max_tx_bytes: u64,
    /// Candidate txs from the mempool, in mempool order.
    pub txs: Vec<Vec<u8>>,
    pub height: Height,
    pub time_ms: u64,
    pub proposer: PublicKey,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrepareProposalResponse {
    pub txs: Vec<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessProposalRequest {
    pub txs: Vec<Vec<u8>>,
    /// Block id of the proposal.
    pub hash: Hash,
    pub height: Height,
    pub time_ms: u64,
    pub proposer: PublicKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalStatus {
    Accept,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizeBlockRequest {
    pub txs: Vec<Vec<u8>>,
    pub hash: Hash,
    pub height: Height,
    pub time_ms: u64,
    pub proposer: PublicKey,
    /// From the block's verified evidence.
    pub misbehavior: Vec<Misbehavior>,
    /// `None` for the first block and after a parent finalized without a quorum certificate (sampling): not
    /// "nobody signed", but "nothing to report".
    pub decided_last_commit: Option<CommitInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxResult {
    pub code: u32,
    pub log: String,
    pub data: Vec<u8>,
    pub gas_wanted: u64,
    pub gas_used: u64,
    pub events: Vec<Event>,
}

impl TxResult {
    pub fn is_ok(&self) -> bool {
        self.code == CODE_OK
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct FinalizeBlockResponse {
    /// Block-level events (begin/end block hooks).
    pub events: Vec<Event>,
    /// One result per tx, in block order.
    pub tx_results: Vec<TxResult>,
    /// Take effect at `height + 2`; power 0 removes.
    pub validator_updates: Vec<Validator>,
    pub consensus_param_updates: Option<ConsensusParams>,
    /// State root after this block; goes into the next block's header.
    pub app_hash: Hash,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitResponse {
    /// Blocks below this height may be pruned by the node (0: keep everything).
    pub retain_height: Height,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryRequest {
    /// What to query, e.g. `store/<key>` or `module/<address>`; the app defines the paths.
    pub path: String,
    pub data: Vec<u8>,
    /// 0 means the latest committed height.
    pub height: Height,
    pub prove: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryResponse {
    pub code: u32,
    pub log: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Encoded proof of `key`/`value` (or of absence) against the app hash at `height`.
    pub proof: Vec<u8>,
    pub height: Height,
}

/// A state-sync snapshot an app offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub height: Height,
    pub format: u32,
    pub chunks: u32,
    pub hash: Hash,
    pub metadata: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferSnapshotResult {
    Accept,
    Abort,
    Reject,
    RejectFormat,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSnapshotChunkRequest {
    pub height: Height,
    pub format: u32,
    pub chunk: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplySnapshotChunkRequest {
    pub index: u32,
    pub chunk: Vec<u8>,
    pub sender: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplySnapshotChunkResult {
    Accept,
    Abort,
    Retry,
    RetrySnapshot,
    RejectSnapshot,
}
