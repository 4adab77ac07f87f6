//! Shared by the kvstore tests: a genesis, a deterministic sequence of blocks, and a driver that runs any two
//! `Application`s through them side by side.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_abci::*;
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator};

pub fn genesis_key(i: u64) -> PublicKey {
    Keypair::derived("kvstore-genesis", i).public()
}

pub fn init_chain() -> InitChainRequest {
    InitChainRequest {
        chain_id: ChainId::new("kvstore-test").unwrap(),
        time_ms: 1_700_000_000_000,
        initial_height: Height(1),
        consensus_params: ConsensusParams::default(),
        validators: (0..4).map(|i| Validator { public_key: genesis_key(i), power: 10 + i }).collect(),
        app_state: Vec::new(),
    }
}

fn val_tx(pk: &PublicKey, power: u64) -> Vec<u8> {
    format!("val:{}!{power}", pk.to_hex()).into_bytes()
}

/// The txs of block `h`: overwriting key/value writes (some non-UTF-8, some large), validator joins, power
/// changes and removals (some invalid for the state), and garbage of every kind.
pub fn block_txs(h: u64) -> Vec<Vec<u8>> {
    let mut txs = Vec::new();
    for i in 0..(h % 5 + 1) {
        txs.push(format!("k{}=v{h}-{i}", (h * 7 + i) % 37).into_bytes());
    }
    if h.is_multiple_of(4) {
        txs.push([b"\xff\x00bin".to_vec(), b"=".to_vec(), vec![h as u8; (h as usize % 3) * 700]].concat());
    }
    if h.is_multiple_of(3) {
        txs.push(val_tx(&Keypair::derived("kvstore-joiner", h).public(), h % 10 + 1));
    }
    if h.is_multiple_of(5) {
        txs.push(val_tx(&genesis_key(h % 4), h));
    }
    if h.is_multiple_of(11) && h >= 6 {
        // Remove a joiner added earlier (an unknown key if it was never added: code 3).
        txs.push(val_tx(&Keypair::derived("kvstore-joiner", h - 5).public(), 0));
    }
    if h.is_multiple_of(13) {
        // Join and leave in the same block: no net update.
        let k = Keypair::derived("kvstore-flicker", h).public();
        txs.push(val_tx(&k, 3));
        txs.push(val_tx(&k, 0));
    }
    if h.is_multiple_of(7) {
        txs.push(b"no equals sign".to_vec());
        txs.push(b"=empty key".to_vec());
        txs.push(b"val:nothex!1".to_vec());
        txs.push(format!("val:{}!-1", "ab".repeat(32)).into_bytes());
        txs.push(format!("val:{}!99999999999999999999", "ab".repeat(32)).into_bytes());
        txs.push([vec![b'k'; 257], b"=v".to_vec()].concat());
        txs.push(Vec::new());
    }
    txs
}

pub fn finalize_request(h: u64, txs: Vec<Vec<u8>>) -> FinalizeBlockRequest {
    FinalizeBlockRequest {
        txs,
        hash: Hash::digest(&h.to_be_bytes()),
        height: Height(h),
        time_ms: 1_700_000_000_000 + h * 1000,
        proposer: genesis_key(h % 4),
        misbehavior: Vec::new(),
        decided_last_commit: None,
    }
}

/// Runs `a` and `b` through InitChain and `blocks` blocks, asserting equal app hashes, validator updates, tx codes
/// and CheckTx codes at every step. Returns (number of validator updates seen, number of failed txs seen).
pub async fn drive_side_by_side(a: &dyn Application, b: &dyn Application, blocks: u64) -> (usize, usize) {
    let ia = a.init_chain(init_chain()).await.unwrap();
    let ib = b.init_chain(init_chain()).await.unwrap();
    assert_eq!(ia.app_hash, ib.app_hash, "genesis app hash");
    let (mut updates, mut failed) = (0, 0);
    for h in 1..=blocks {
        let txs = block_txs(h);
        for tx in &txs {
            let req = CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New };
            let (ca, cb) = (a.check_tx(req.clone()).await.unwrap(), b.check_tx(req).await.unwrap());
            assert_eq!(ca.code, cb.code, "CheckTx code at height {h} for {:?}", String::from_utf8_lossy(tx));
        }
        let fa = a.finalize_block(finalize_request(h, txs.clone())).await.unwrap();
        let fb = b.finalize_block(finalize_request(h, txs)).await.unwrap();
        assert_eq!(fa.app_hash, fb.app_hash, "app hash at height {h}");
        assert_eq!(fa.validator_updates, fb.validator_updates, "validator updates at height {h}");
        let codes = |r: &FinalizeBlockResponse| r.tx_results.iter().map(|t| t.code).collect::<Vec<_>>();
        assert_eq!(codes(&fa), codes(&fb), "tx codes at height {h}");
        updates += fa.validator_updates.len();
        failed += fa.tx_results.iter().filter(|t| !t.is_ok()).count();
        a.commit().await.unwrap();
        b.commit().await.unwrap();
    }
    let (infa, infb) = (a.info(InfoRequest {}).await.unwrap(), b.info(InfoRequest {}).await.unwrap());
    assert_eq!((infa.last_height, infa.last_app_hash), (infb.last_height, infb.last_app_hash));
    assert_eq!(infa.last_height, Height(blocks));
    for key in ["k0", "k5", "k36", "nope"] {
        let q = QueryRequest { path: "/store".into(), data: key.into(), height: Height(0), prove: false };
        let (qa, qb) = (a.query(q.clone()).await.unwrap(), b.query(q).await.unwrap());
        assert_eq!((qa.code, qa.value, qa.height), (qb.code, qb.value, qb.height), "query {key}");
    }
    (updates, failed)
}

/// A child process that is killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (which must print "kvstore listening on ADDR" as its first stdout line) and returns it with ADDR.
pub fn start_server(mut cmd: Command, what: &str) -> (ChildGuard, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{what} did not report its address within 120 s"));
    let addr = line
        .trim()
        .strip_prefix("kvstore listening on ")
        .unwrap_or_else(|| panic!("{what} printed {line:?} instead of its address"))
        .to_string();
    (guard, addr)
}
