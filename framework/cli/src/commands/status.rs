//! `cairn status`: where a node is (chain, height, peers, validators, catching up).

use anyhow::Result;
use cairn_proto::node::v1 as pb;

use super::client;

#[derive(clap::Args)]
pub struct Args {
    /// gRPC API of the node.
    #[arg(long, default_value = client::DEFAULT_NODE, env = "CAIRN_NODE")]
    node: String,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    client::runtime()?.block_on(async {
        let mut c = client::connect(&args.node).await?;
        let s = client::status(&mut c, &args.node).await?;
        if args.json {
            println!("{}", to_json(&s));
        } else {
            print_text(&s);
        }
        Ok(())
    })
}

pub fn engine_name(raw: i32) -> &'static str {
    match cairn_proto::app::v1::Engine::try_from(raw) {
        Ok(cairn_proto::app::v1::Engine::Bft) => "bft",
        Ok(cairn_proto::app::v1::Engine::Snow) => "snow",
        _ => "unknown",
    }
}

pub fn to_json(s: &pb::StatusResponse) -> serde_json::Value {
    serde_json::json!({
        "chain_id": s.chain_id,
        "height": s.height,
        "app_hash": hex::encode(&s.app_hash),
        "latest_block_id": hex::encode(&s.latest_block_id),
        "latest_block_time_ms": s.latest_block_time_ms,
        "validator_count": s.validator_count,
        "total_power": s.total_power,
        "engine": engine_name(s.engine),
        "engine_switch": s.engine_switch.as_ref().map(|w| serde_json::json!({"engine": engine_name(w.engine), "height": w.height})),
        "peers": s.peers.iter().map(|p| serde_json::json!({"id": p.id, "address": p.address, "score": p.score})).collect::<Vec<_>>(),
        "catching_up": s.catching_up,
        "node_key": hex::encode(&s.node_key),
        "p2p_key": hex::encode(&s.p2p_key),
        "peer_id": s.peer_id,
        "version": s.version,
    })
}

fn print_text(s: &pb::StatusResponse) {
    println!("chain:       {}", s.chain_id);
    println!("height:      {}", s.height);
    println!("block id:    {}", hex::encode(&s.latest_block_id));
    println!("app hash:    {}", hex::encode(&s.app_hash));
    println!("engine:      {}", engine_name(s.engine));
    println!("validators:  {} (total power {})", s.validator_count, s.total_power);
    println!("peers:       {}", s.peers.len());
    for p in &s.peers {
        // Clean peers (score 0) are the rule; list the ones that misbehaved lately.
        if p.score < 0 {
            println!("  {} score {} (ban at -100)", p.id, p.score);
        }
    }
    println!("catching up: {}", s.catching_up);
    if !s.node_key.is_empty() {
        println!("validator:   {}", hex::encode(&s.node_key));
    }
    println!("p2p key:     {}", hex::encode(&s.p2p_key));
    println!("peer id:     {}", s.peer_id);
    println!("version:     {}", s.version);
}
