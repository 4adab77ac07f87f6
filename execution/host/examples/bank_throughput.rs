//! Bank transfers through `ExecApp::finalize_block` on cairn-state: 10,000-tx blocks, signatures already checked
//! by CheckTx (measured separately), with the cost split between Wasm execution, state reads, Merkle hashing
//! (`stage`) and the disk commit.
//!
//! `cargo run -p cairn-execution --release --example bank_throughput [-- BLOCKS TXS_PER_BLOCK ACCOUNTS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cairn_abci::{CheckTxKind, CheckTxRequest, ConsensusParams, FinalizeBlockRequest, InitChainRequest};
use cairn_execution::backend::{Backend, BackendError, Batch, Entry};
use cairn_execution::state_backend::StateBackend;
use cairn_execution::{ExecApp, ExecConfig, ModuleCache};
use cairn_module_bank::msg::{ExecuteMsg, InitMsg};
use cairn_primitives::{Address, ChainId, Hash, Height, Keypair, Message, PublicKey, Tx, TxBody};

/// Wraps a backend and adds up the time spent in it.
struct Timed {
    inner: StateBackend,
    read_ns: AtomicU64,
    stage_ns: AtomicU64,
    commit_ns: AtomicU64,
}

fn timed<R>(acc: &AtomicU64, f: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = f();
    acc.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    r
}

impl Backend for Timed {
    fn version(&self) -> Height {
        self.inner.version()
    }
    fn root(&self) -> Hash {
        self.inner.root()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        timed(&self.read_ns, || self.inner.get(key))
    }
    fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.get_at(key, h)
    }
    fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, BackendError> {
        timed(&self.read_ns, || self.inner.next_entry(start, end))
    }
    fn stage(&self, h: Height, batch: Batch) -> Result<Hash, BackendError> {
        timed(&self.stage_ns, || self.inner.stage(h, batch))
    }
    fn commit(&self) -> Result<Hash, BackendError> {
        timed(&self.commit_ns, || self.inner.commit())
    }
    fn discard_staged(&self) {
        self.inner.discard_staged()
    }
    fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Vec<u8>), BackendError> {
        self.inner.prove(key, h)
    }
}

/// CPU time of this thread in ns (Linux `schedstat`), so a busy shared machine does not distort tx/s.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let blocks = args.first().copied().unwrap_or(3);
    let per_block = args.get(1).copied().unwrap_or(10_000);
    let accounts = args.get(2).copied().unwrap_or(10_000);
    let fsync = std::env::var("CAIRN_FSYNC").map(|v| v == "1").unwrap_or(true);

    let dir = tempfile::tempdir()?;
    let state = StateBackend::open(
        &dir.path().join("state.redb"),
        cairn_state::StateConfig { prune_window: 10, fsync },
    )
    .map_err(anyhow::Error::msg)?;
    let backend = Arc::new(Timed {
        inner: state,
        read_ns: AtomicU64::new(0),
        stage_ns: AtomicU64::new(0),
        commit_ns: AtomicU64::new(0),
    });
    let config = ExecConfig { fsync, ..ExecConfig::default() };
    let cache = ModuleCache::new(Some(&dir.path().join("cache")), 8, config.max_wasm_stack)?;
    let app = ExecApp::with_parts(backend.clone(), cache, None, config);

    let keys: Vec<Keypair> = (0..accounts).map(|i| Keypair::derived("bench", i)).collect();
    let bank_wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/bank.wasm"))?;
    let init = InitMsg {
        denom: "cairn".into(),
        admin: None,
        balances: keys.iter().map(|k| (k.public().0, 1_000_000_000)).collect(),
    };
    let genesis = serde_json::json!({
        "modules": [{ "label": "bank", "wasm_hex": hex::encode(&bank_wasm),
                      "init_msg_hex": hex::encode(borsh::to_vec(&init)?) }]
    });
    let chain_id = ChainId::new("bench")?;
    app.init_chain_sync(InitChainRequest {
        chain_id: chain_id.clone(),
        time_ms: 0,
        initial_height: Height(1),
        consensus_params: ConsensusParams::default(),
        validators: vec![],
        app_state: serde_json::to_vec(&genesis)?,
    })?;
    let bank = Address::for_instance(&Hash::digest(&bank_wasm), &Address::default(), 0);

    let mut nonces = vec![0u64; accounts as usize];
    let mut results = Vec::new();
    for b in 0..blocks {
        // Build and sign (not timed), then CheckTx (timed: decode + signature + nonce), then execute.
        let txs: Vec<Vec<u8>> = (0..per_block)
            .map(|i| {
                let from = ((b * per_block + i) % accounts) as usize;
                let to = (from + 1) % accounts as usize;
                let msg = ExecuteMsg::Transfer { to: keys[to].public().0, amount: 1 };
                let body = TxBody {
                    chain_id: chain_id.clone(),
                    sender: keys[from].public(),
                    nonce: nonces[from],
                    fuel_limit: 1_000_000,
                    price: 0,
                    messages: vec![Message::Execute {
                        contract: bank,
                        msg: borsh::to_vec(&msg).unwrap_or_default(),
                    }],
                };
                nonces[from] += 1;
                Tx::sign(body, &keys[from]).to_bytes()
            })
            .collect();
        let t = Instant::now();
        for tx in &txs {
            let r = app.check_tx_sync(CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New });
            anyhow::ensure!(r.code == 0, "check_tx: {}", r.log);
        }
        let check_s = t.elapsed().as_secs_f64();

        let (r0, s0, c0) = (
            backend.read_ns.load(Ordering::Relaxed),
            backend.stage_ns.load(Ordering::Relaxed),
            backend.commit_ns.load(Ordering::Relaxed),
        );
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        let resp = app.finalize_block_sync(FinalizeBlockRequest {
            txs,
            hash: Hash::ZERO,
            height: Height(b + 1),
            time_ms: b * 1000,
            proposer: PublicKey::default(),
            misbehavior: vec![],
            decided_last_commit: None,
        })?;
        let finalize_s = t.elapsed().as_secs_f64();
        let finalize_cpu_s = match (cpu0, thread_cpu_ns()) {
            (Some(a), Some(b)) => Some((b - a) as f64 / 1e9),
            _ => None,
        };
        let t = Instant::now();
        app.commit_sync()?;
        let commit_s = t.elapsed().as_secs_f64();
        let response_bytes = borsh::to_vec(&resp)?.len();
        let failed = resp.tx_results.iter().filter(|r| !r.is_ok()).count();
        anyhow::ensure!(
            failed == 0,
            "{failed} txs failed: {}",
            resp.tx_results.iter().find(|r| !r.is_ok()).map(|r| r.log.clone()).unwrap_or_default()
        );
        let read_s = (backend.read_ns.load(Ordering::Relaxed) - r0) as f64 / 1e9;
        let stage_s = (backend.stage_ns.load(Ordering::Relaxed) - s0) as f64 / 1e9;
        let disk_s = (backend.commit_ns.load(Ordering::Relaxed) - c0) as f64 / 1e9;
        let n = per_block as f64;
        let fuel: u64 = resp.tx_results.iter().map(|r| r.gas_used).sum();
        results.push(serde_json::json!({
            "height": b + 1,
            "txs": per_block,
            "fuel_per_tx": fuel / per_block.max(1),
            "finalize_response_borsh_bytes": response_bytes,
            "execute_tx_per_s": (n / finalize_s).round(),
            "execute_tx_per_cpu_s": finalize_cpu_s.map(|c| (n / c).round()),
            "execute_plus_commit_tx_per_s": (n / (finalize_s + commit_s)).round(),
            "check_tx_per_s": (n / check_s).round(),
            "split_ms": {
                "wasm_and_host": ((finalize_s - read_s - stage_s) * 1e3).round(),
                "state_reads": (read_s * 1e3).round(),
                "merkle_hashing_stage": (stage_s * 1e3).round(),
                "commit_disk": (disk_s * 1e3).round(),
            },
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "bench": "bank_throughput", "fsync": fsync, "accounts": accounts, "blocks": results
        }))?
    );
    Ok(())
}
