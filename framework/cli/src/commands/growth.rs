//! `cairn growth`: the growth walkthrough that `examples/growth/run.sh` runs. A 4-validator localnet of template
//! `growth` starts on proof of authority; while signed transfers flow, governance switches it to the web of trust
//! (validators 0–2), then to hybrid stake (all four back), and in full mode the engine to snow. After each switch
//! it checks that the set deciding blocks is exactly the new module's; at the end, that every acknowledged transfer
//! is in state. The last stdout line is one JSON object with `lost` and `switches`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_module_gov::msg::{Action, ExecuteMsg, VoteOption};
use cairn_primitives::{Address, Keypair, Message};
use cairn_proto::node::v1 as pb;
use serde_json::{Value, json};

use super::client::{self, Client};
use super::demo::{self, NetOptions};
use super::load::{self, LoadSpec};
use super::{bank, gov, template};

#[derive(clap::Args)]
pub struct Args {
    /// CI form: the two Sybil switches under a light load; no engine switch.
    #[arg(long)]
    short: bool,
    /// Keep the chain directory (default: a temporary one, removed at the end).
    #[arg(long)]
    keep: bool,
}

/// Validators 0–2 propose and vote: they are in every set of the walkthrough.
const VOTERS: [usize; 3] = [0, 1, 2];
/// Blocks between "now" and a switch: the proposal's inclusion, gov's `voting_period` (8) and
/// `min_enactment_delay` (4) in the `growth` template, and a margin.
const SWITCH_DISTANCE: u64 = 24;

struct Node {
    url: String,
    c: Client,
}

impl Node {
    async fn height(&mut self) -> Result<u64> {
        Ok(client::status(&mut self.c, &self.url).await?.height)
    }

    async fn wait_for(&mut self, h: u64, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        while self.height().await? < h {
            if t0.elapsed() > timeout {
                bail!("the chain did not reach height {h} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Signs, submits and waits for one gov message; fails with the tx's log if it fails.
    async fn gov_tx(
        &mut self,
        chain: &cairn_primitives::ChainId,
        key: &Keypair,
        msg: &ExecuteMsg,
    ) -> Result<Vec<u8>> {
        let gov_addr = bank::module_address(&mut self.c, &self.url, gov::GOV_LABEL).await?;
        let nonce = bank::next_nonce(&mut self.c, &self.url, &key.public()).await?;
        let m = Message::Execute { contract: gov_addr, msg: borsh::to_vec(msg)? };
        let tx = bank::sign(key, chain, nonce, 20_000_000, 0, vec![m]);
        let r = self
            .c
            .broadcast_tx(pb::BroadcastTxRequest {
                tx: tx.to_bytes(),
                mode: pb::BroadcastMode::Commit as i32,
            })
            .await
            .map_err(|s| client::rpc_error("BroadcastTx", &self.url, s))?
            .into_inner();
        if r.check_code != 0 {
            bail!("the node refused the gov tx: {}", r.log);
        }
        let res = r.result.context("the gov tx was not finalized")?;
        if res.code != 0 {
            bail!("the gov tx failed: {}", res.log);
        }
        let outs: Vec<Vec<u8>> = borsh::from_slice(&res.data).context("tx outputs")?;
        Ok(outs.into_iter().next().unwrap_or_default())
    }

    /// The set the app last returned (`validators` query), sorted by key.
    async fn app_set(&mut self) -> Result<Vec<([u8; 32], u64)>> {
        let r = client::query(&mut self.c, &self.url, "validators", Vec::new()).await?;
        borsh::from_slice(&r.value).context("validators answer")
    }
}

/// Proposes `action` with validator 0, votes yes with 1 and 2, and waits until height `at + 2`.
async fn govern(node: &mut Node, net: &demo::Net, action: Action, at: u64) -> Result<()> {
    let key = |i: usize| &net.procs.nodes[i].key;
    let out =
        node.gov_tx(&net.chain_id, key(VOTERS[0]), &ExecuteMsg::Propose { action, deposit: 100 }).await?;
    let id: u64 = borsh::from_slice(&out).context("proposal id")?;
    for i in &VOTERS[1..] {
        node.gov_tx(&net.chain_id, key(*i), &ExecuteMsg::Vote { id, option: VoteOption::Yes }).await?;
    }
    node.wait_for(at + 2, Duration::from_secs(60)).await
}

/// Switches the Sybil module to `label` by governance and checks that the set deciding blocks from H+2 is the
/// module's own (`query` answers `Vec<(key, power)>`).
async fn switch_sybil(node: &mut Node, net: &demo::Net, label: &str, query: Vec<u8>) -> Result<Value> {
    let module = bank::module_address(&mut node.c, &node.url, label).await?;
    let at = node.height().await? + SWITCH_DISTANCE;
    eprintln!("governance: switch the Sybil module to {label} at height {at}");
    govern(node, net, Action::SwitchSybil { module: module.0, height: at }, at).await?;
    let r = client::query(&mut node.c, &node.url, &format!("module/{}", module.to_hex()), query).await?;
    let mut want: Vec<([u8; 32], u64)> = borsh::from_slice(&r.value).context("the module's set")?;
    want.sort();
    let got = node.app_set().await?;
    if got != want {
        bail!(
            "after the switch to {label} the chain's set is {} validators, {label} says {}",
            got.len(),
            want.len()
        );
    }
    let s = client::status(&mut node.c, &node.url).await?;
    let total: u64 = want.iter().map(|(_, p)| p).sum();
    if (s.validator_count as usize, s.total_power) != (want.len(), total) {
        bail!(
            "the node decides with {} validators (power {}), {label} says {} (power {total})",
            s.validator_count,
            s.total_power,
            want.len()
        );
    }
    eprintln!("  from height {} the {} validators of {label} decide blocks", at + 2, want.len());
    Ok(json!({"height": at, "module": label, "validators": want.len()}))
}

async fn switch_engine(node: &mut Node, net: &demo::Net, engine: &str) -> Result<Value> {
    let at = node.height().await? + SWITCH_DISTANCE;
    eprintln!("governance: switch the consensus engine to {engine} at height {at}");
    let action = Action::SwitchEngine { engine: engine.into(), height: at, params: Vec::new() };
    govern(node, net, action, at).await?;
    let s = client::status(&mut node.c, &node.url).await?;
    let running = if s.engine == pb_engine_snow() { "snow" } else { "bft" };
    if running != engine {
        bail!("the node runs {running} at height {}, governance switched it to {engine} at {at}", s.height);
    }
    Ok(json!({"height": at, "engine": engine, "validators": s.validator_count}))
}

fn pb_engine_snow() -> i32 {
    cairn_proto::app::v1::Engine::Snow as i32
}

async fn body(net: &mut demo::Net, short: bool) -> Result<Value> {
    let url = net.procs.nodes[0].grpc_url();
    let mut node = Node { c: client::connect(&url).await?, url: url.clone() };
    let accounts: Vec<Address> = net.users.iter().map(|k| Address::from(k.public())).collect();
    let before = load::balances(&mut node.c, &url, &accounts).await?;
    let txs = if short { 1_000 } else { 4_000 };
    let spec = LoadSpec {
        chain_id: net.chain_id.clone(),
        nodes: net.procs.nodes.iter().map(|n| n.grpc_url()).collect(),
        senders: net.users.clone(),
        txs,
        rate: Some(if short { 60.0 } else { 100.0 }),
        duration: None,
        settle: Duration::from_secs(30),
        progress: false,
        fanout: false,
    };
    let transfers = tokio::spawn(async move { load::run(&spec).await });
    let mut switches = vec![
        switch_sybil(&mut node, net, "wot", borsh::to_vec(&cairn_module_wot::msg::QueryMsg::Smiths)?).await?,
        switch_sybil(&mut node, net, "pos", borsh::to_vec(&cairn_module_pos::msg::QueryMsg::ActiveSet)?)
            .await?,
    ];
    if !short {
        switches.push(switch_engine(&mut node, net, "snow").await?);
    }
    let report = transfers.await.context("the transfer task panicked")??;
    let verified = load::verify_balances(&mut node.c, &url, &accounts, &before, &report.deltas).await?;
    demo::check_agreement(&net.procs, demo::common_height(&net.procs).await?).await?;
    eprintln!(
        "{} transfers finalized ({} lost) across {} switches, heights {}→{}",
        report.txs,
        report.lost,
        switches.len(),
        report.heights.start,
        report.heights.end
    );
    if report.heights.start >= switches[0]["height"].as_u64().unwrap_or(0) {
        bail!("the transfers did not start before the first switch");
    }
    Ok(json!({
        "lost": report.lost,
        "txs": report.txs,
        "submitted": report.submitted,
        "rejected": report.rejected,
        "failed": report.failed,
        "heights": report.heights,
        "switches": switches,
        "verified": verified,
    }))
}

pub fn run(args: Args) -> Result<()> {
    client::runtime()?.block_on(async {
        let o = NetOptions {
            template: "growth".into(),
            validators: 4,
            users: None,
            dir: None,
            keep: args.keep,
            fsync: false,
            engine: template::EngineArgs::default(),
        };
        eprintln!("starting a 4-validator chain of template growth (proof of authority, BFT)…");
        let mut net = demo::start_net(&o).await?;
        let outcome = tokio::select! {
            r = body(&mut net, args.short) => r,
            _ = client::interrupted() => Err(anyhow::anyhow!("interrupted")),
        };
        net.procs.stop_all().await;
        let v = outcome.map_err(|e| net.keep_logs(e))?;
        println!("{v}");
        if v["lost"].as_u64() != Some(0) {
            bail!("{} acknowledged transfers are not in state", v["lost"]);
        }
        Ok(())
    })
}
