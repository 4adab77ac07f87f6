//! Cost of the gRPC app boundary: the same kvstore driven in-process and through `RemoteApp` over loopback.
//!
//! `cargo run --release -p kvstore --example boundary_bench [-- BLOCKS TXS_PER_BLOCK CHECKS]` prints one JSON
//! object: CheckTx calls/s and latency, FinalizeBlock+Commit per block and txs/s, for both paths.

use std::time::{Duration, Instant};

use cairn_abci::server::{self, ServerConfig};
use cairn_abci::*;
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator};
use kvstore::KvStore;

struct Figures {
    check_per_s: f64,
    check_p50_us: f64,
    block_p50_ms: f64,
    finalize_txs_per_s: f64,
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

async fn run(
    app: &dyn Application,
    blocks: u64,
    txs_per_block: usize,
    checks: usize,
) -> anyhow::Result<Figures> {
    app.init_chain(InitChainRequest {
        chain_id: ChainId::new("bench")?,
        time_ms: 0,
        initial_height: Height(1),
        consensus_params: ConsensusParams::default(),
        validators: vec![Validator { public_key: PublicKey([1; 32]), power: 1 }],
        app_state: Vec::new(),
    })
    .await?;
    let mut lat = Vec::with_capacity(checks);
    let start = Instant::now();
    for i in 0..checks {
        let t = Instant::now();
        let r = app
            .check_tx(CheckTxRequest { tx: format!("key{i}=value{i}").into_bytes(), kind: CheckTxKind::New });
        anyhow::ensure!(r.await?.is_ok());
        lat.push(t.elapsed());
    }
    let check_per_s = checks as f64 / start.elapsed().as_secs_f64();
    let mut block_lat = Vec::new();
    let start = Instant::now();
    for h in 1..=blocks {
        let txs = (0..txs_per_block).map(|i| format!("k{}=v{h}", (h as usize * 31 + i) % 5000).into_bytes());
        let t = Instant::now();
        let resp = app
            .finalize_block(FinalizeBlockRequest {
                txs: txs.collect(),
                hash: Hash::digest(&h.to_be_bytes()),
                height: Height(h),
                time_ms: 0,
                proposer: PublicKey([1; 32]),
                misbehavior: Vec::new(),
                decided_last_commit: None,
            })
            .await?;
        anyhow::ensure!(resp.tx_results.iter().all(|r| r.is_ok()));
        app.commit().await?;
        block_lat.push(t.elapsed());
    }
    let finalize_txs_per_s = (blocks as usize * txs_per_block) as f64 / start.elapsed().as_secs_f64();
    Ok(Figures {
        check_per_s,
        check_p50_us: p50(lat).as_secs_f64() * 1e6,
        block_p50_ms: p50(block_lat).as_secs_f64() * 1e3,
        finalize_txs_per_s,
    })
}

fn json(name: &str, f: &Figures) -> String {
    format!(
        "\"{name}\":{{\"check_tx_per_s\":{:.0},\"check_tx_p50_us\":{:.1},\"block_p50_ms\":{:.2},\"finalize_txs_per_s\":{:.0}}}",
        f.check_per_s, f.check_p50_us, f.block_p50_ms, f.finalize_txs_per_s
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let blocks = args.first().copied().unwrap_or(200);
    let txs_per_block = args.get(1).copied().unwrap_or(1000) as usize;
    let checks = args.get(2).copied().unwrap_or(5000) as usize;

    let local = run(&KvStore::new(), blocks, txs_per_block, checks).await?;
    let handle = server::spawn(KvStore::new(), "127.0.0.1:0".parse()?, ServerConfig::default()).await?;
    let remote_app = RemoteApp::connect(handle.local_addr().to_string(), ClientConfig::default()).await?;
    let remote = run(&remote_app, blocks, txs_per_block, checks).await?;
    handle.shutdown().await?;
    println!(
        "{{\"blocks\":{blocks},\"txs_per_block\":{txs_per_block},\"check_tx_calls\":{checks},{},{}}}",
        json("in_process", &local),
        json("grpc_loopback", &remote)
    );
    Ok(())
}
