//! Test chain: an ExecApp driven block by block, with keys and nonces.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_abci::{
    CheckTxKind, CheckTxRequest, CheckTxResponse, ConsensusParams, FinalizeBlockRequest,
    FinalizeBlockResponse, InitChainRequest, InitChainResponse, QueryRequest, QueryResponse, TxResult,
};
use cairn_execution::{ExecApp, ExecConfig};
use cairn_primitives::{Address, ChainId, Hash, Height, Keypair, Message, PublicKey, Tx, TxBody};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
pub const CHAIN: &str = "test-chain";
pub const FUEL: u64 = 10_000_000;

pub fn wat(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    wat::parse_str(text).expect("fixture parses")
}

pub fn counter() -> Vec<u8> {
    wat("counter.wat")
}

/// The counter with a `migrate` export (a different code id).
pub fn counter_v2() -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/counter.wat")).expect("fixture");
    let text = text.replace(
        ";;MIGRATE",
        r#"(func (export "migrate") (param i32 i32) (result i32)
             (call $storage_set (i32.const 16) (i32.const 8) (i32.const 32) (i32.const 3))
             i32.const 0)"#,
    );
    wat::parse_str(text).expect("v2 parses")
}

pub fn key(i: u64) -> Keypair {
    Keypair::derived("exec-test", i)
}

pub fn genesis_instance(code: &[u8], index: u64) -> Address {
    Address::for_instance(&Hash::digest(code), &Address::default(), index)
}

pub struct Chain {
    pub app: ExecApp,
    pub chain_id: ChainId,
    pub height: u64,
    pub nonces: BTreeMap<PublicKey, u64>,
    /// The price every tx built by this chain carries (0: fee-less).
    pub price: u128,
    /// The proposer named in every block.
    pub proposer: PublicKey,
}

pub fn init_request(app_state: &serde_json::Value) -> InitChainRequest {
    InitChainRequest {
        chain_id: ChainId::new(CHAIN).expect("chain id"),
        time_ms: 1_000,
        initial_height: Height(1),
        consensus_params: ConsensusParams::default(),
        validators: Vec::new(),
        app_state: serde_json::to_vec(app_state).expect("json"),
    }
}

impl Chain {
    pub fn new(app_state: serde_json::Value) -> Chain {
        let app = ExecApp::in_memory(ExecConfig::default()).expect("app");
        Chain::with_app(app, app_state)
    }

    pub fn open(home: &Path, app_state: serde_json::Value) -> Chain {
        let config = ExecConfig { fsync: false, ..ExecConfig::default() };
        let app = ExecApp::open(home, config).expect("app");
        Chain::with_app(app, app_state)
    }

    pub fn with_app(app: ExecApp, app_state: serde_json::Value) -> Chain {
        let mut c = Chain::uninit(app);
        c.init(&app_state).expect("init chain");
        c
    }

    /// A chain whose genesis may be refused: the refusal's text (with its causes).
    pub fn try_new(app_state: serde_json::Value) -> Result<Chain, String> {
        let mut c = Chain::uninit(ExecApp::in_memory(ExecConfig::default()).expect("app"));
        c.init(&app_state).map_err(|e| format!("{e:#}"))?;
        Ok(c)
    }

    fn uninit(app: ExecApp) -> Chain {
        Chain {
            app,
            chain_id: ChainId::new(CHAIN).expect("id"),
            height: 0,
            nonces: BTreeMap::new(),
            price: 0,
            proposer: PublicKey::default(),
        }
    }

    pub fn init(&mut self, app_state: &serde_json::Value) -> anyhow::Result<InitChainResponse> {
        Ok(self.app.init_chain_sync(init_request(app_state))?)
    }

    pub fn tx_with(&self, key: &Keypair, nonce: u64, fuel: u64, messages: Vec<Message>) -> Vec<u8> {
        self.tx_with_price(key, nonce, fuel, self.price, messages)
    }

    pub fn tx_with_price(
        &self,
        key: &Keypair,
        nonce: u64,
        fuel: u64,
        price: u128,
        messages: Vec<Message>,
    ) -> Vec<u8> {
        let body = TxBody {
            chain_id: self.chain_id.clone(),
            sender: key.public(),
            nonce,
            fuel_limit: fuel,
            price,
            messages,
        };
        Tx::sign(body, key).to_bytes()
    }

    /// A signed tx with the sender's next nonce (and bumps the local nonce).
    pub fn tx(&mut self, key: &Keypair, messages: Vec<Message>) -> Vec<u8> {
        let n = self.nonces.entry(key.public()).or_insert(0);
        let nonce = *n;
        *n += 1;
        self.tx_with(key, nonce, FUEL, messages)
    }

    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> FinalizeBlockResponse {
        self.block_with(txs, Vec::new(), None)
    }

    /// A block that also reports misbehaviour and the previous block's signers, as the node sends them.
    pub fn block_with(
        &mut self,
        txs: Vec<Vec<u8>>,
        misbehavior: Vec<cairn_abci::Misbehavior>,
        decided_last_commit: Option<cairn_abci::CommitInfo>,
    ) -> FinalizeBlockResponse {
        self.height += 1;
        let req = FinalizeBlockRequest {
            txs,
            hash: Hash::digest(&self.height.to_le_bytes()),
            height: Height(self.height),
            time_ms: 1_000 + self.height * 1_000,
            proposer: self.proposer,
            misbehavior,
            decided_last_commit,
        };
        let resp = self.app.finalize_block_sync(req).expect("finalize");
        self.app.commit_sync().expect("commit");
        resp
    }

    /// One tx in its own block.
    pub fn send(&mut self, key: &Keypair, messages: Vec<Message>) -> TxResult {
        let tx = self.tx(key, messages);
        let mut resp = self.block(vec![tx]);
        resp.tx_results.remove(0)
    }

    pub fn check(&self, tx: Vec<u8>) -> CheckTxResponse {
        self.app.check_tx_sync(CheckTxRequest { tx, kind: CheckTxKind::New })
    }

    pub fn query(&self, path: &str, data: Vec<u8>) -> QueryResponse {
        self.app
            .query_sync(QueryRequest { path: path.into(), data, height: Height(0), prove: false })
            .expect("query")
    }

    pub fn upload(&mut self, key: &Keypair, code: &[u8]) -> Hash {
        let r = self.send(key, vec![Message::Upload { code: code.to_vec() }]);
        assert!(r.is_ok(), "upload failed: {}", r.log);
        Hash::digest(code)
    }

    pub fn instantiate(
        &mut self,
        key: &Keypair,
        code_id: Hash,
        label: &str,
        admin: Option<Address>,
    ) -> Address {
        let r =
            self.send(key, vec![Message::Instantiate { code_id, label: label.into(), admin, msg: vec![] }]);
        assert!(r.is_ok(), "instantiate failed: {}", r.log);
        let outs: Vec<Vec<u8>> = borsh::from_slice(&r.data).expect("outputs");
        Address(outs[0].clone().try_into().expect("32 bytes"))
    }

    pub fn exec(&mut self, key: &Keypair, contract: Address, msg: Vec<u8>) -> TxResult {
        self.send(key, vec![Message::Execute { contract, msg }])
    }
}

/// The single message output of a successful tx.
pub fn output(r: &TxResult) -> Vec<u8> {
    assert!(r.is_ok(), "tx failed: {}", r.log);
    let outs: Vec<Vec<u8>> = borsh::from_slice(&r.data).expect("outputs");
    outs.into_iter().last().unwrap_or_default()
}

pub fn counter_value(chain: &Chain, addr: Address) -> u64 {
    let r = chain.query(&format!("module/{}", addr.to_hex()), vec![]);
    assert_eq!(r.code, 0, "query failed: {}", r.log);
    u64::from_le_bytes(r.value.try_into().expect("8 bytes"))
}
