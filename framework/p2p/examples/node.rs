//! A standalone p2p node for manual experiments and the kill -9 test: prints what it receives.
//!
//! `cargo run -p cairn-p2p --example node -- SEED LISTEN [BOOTSTRAP…]`
//!
//! SEED picks the key (`Keypair::derived("cairn-p2p-tests", SEED)`), LISTEN is `IP:PORT`, each BOOTSTRAP is a
//! peer address in any form `PeerAddr` parses. Prints `listening KEY@ADDR`, then one line per event:
//! `connected KEY`, `disconnected KEY`, `gossip TOPIC KEY HEX`, `direct KEY HEX`. Answers requests by
//! echoing them.

use anyhow::{Context, Result};
use cairn_p2p::{NetEvent, Network, P2pConfig, PeerAddr};
use cairn_primitives::Keypair;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().context("usage: node SEED LISTEN [BOOTSTRAP…]")?.parse()?;
    let listen = args.next().context("missing LISTEN (IP:PORT)")?.parse()?;
    let bootstrap = args.map(|a| a.parse::<PeerAddr>()).collect::<Result<Vec<_>, _>>()?;
    let mut cfg = P2pConfig::new("p2p-test".parse()?, listen);
    cfg.bootstrap = bootstrap;
    cfg.redial_initial = std::time::Duration::from_millis(50);
    cfg.redial_max = std::time::Duration::from_millis(400);
    let (net, mut events) = Network::start(&Keypair::derived("cairn-p2p-tests", seed), cfg).await?;
    println!("listening {}", net.local_peer_addr());
    while let Some(ev) = events.recv().await {
        match ev {
            NetEvent::PeerConnected(p) => println!("connected {p}"),
            NetEvent::PeerDisconnected(p) => println!("disconnected {p}"),
            NetEvent::Gossip { from, topic, data } => {
                println!("gossip {} {from} {}", topic.name(), hex::encode(data))
            }
            // Only with a filter that `validates_txs` (this example uses none).
            NetEvent::TxBatch { from, txs, .. } => println!("tx batch {from} of {}", txs.len()),
            NetEvent::Direct { from, data } => println!("direct {from} {}", hex::encode(data)),
            NetEvent::Request { data, reply, .. } => reply.send(data).await?,
        }
    }
    Ok(())
}
