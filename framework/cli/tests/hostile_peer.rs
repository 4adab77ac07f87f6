//! Issue 10's hostile peer harness, on real processes: a 3-validator localnet and one libp2p peer of the same chain
//! that, for several seconds, sends everything a peer can send — malformed and oversized consensus gossip,
//! consensus envelopes for an epoch far in the future, junk and well-formed-but-bogus block bodies (proposed by
//! itself, a non-validator, at heights ahead), malformed txs by the hundred, junk direct messages, and block-sync
//! requests for every block at once.
//!
//! What must hold: the chain keeps finalizing while it happens and after; every validator's memory stays under a
//! stated bound; the validators stay connected to one another (no honest peer is banned); the attacker is
//! noticed (offences counted) and its consensus and block gossip is not forwarded (it is no validator).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cairn_node::wire::{ConsensusEnvelope, SyncRequest};
use cairn_p2p::{Network, P2pConfig, PeerAddr, Topic};
use cairn_primitives::{Block, Hash, Header, Height, Keypair};
use support::{Localnet, rss_bytes};

/// What a validator may hold under the flood (measured: ~50 MiB, debug build).
const RSS_BOUND: u64 = 256 * 1024 * 1024;

fn junk(len: usize, salt: u64) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(31).wrapping_add(salt) % 251) as u8).collect()
}

fn toml_of(path: &std::path::Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `GET path` on a node's HTTP API, the body as JSON.
fn http_json(addr: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_cannot_stop_exhaust_or_split_a_localnet() {
    let dir = tempfile::tempdir().unwrap();
    let net = Localnet::start(&dir.path().join("chain"), 3);
    // p2p keys (what bootstrap entries pin) and validator keys (what peers are listed by once their binding
    // is verified).
    let key_of =
        |i: usize, file: &str| json_of(&net.home(i).join(file))["public_key"].as_str().unwrap().to_string();
    let p2p_keys: Vec<String> = (0..3).map(|i| key_of(i, "config/node_key.json")).collect();
    let validator_keys: Vec<String> = (0..3).map(|i| key_of(i, "config/priv_validator_key.json")).collect();
    let configs: Vec<toml::Value> =
        (0..3).map(|i| toml_of(&net.home(i).join("config/config.toml"))).collect();
    let chain_id =
        json_of(&net.home(0).join("config/genesis.json"))["chain_id"].as_str().unwrap().parse().unwrap();
    let keys: Vec<cairn_primitives::PublicKey> =
        p2p_keys.iter().map(|k| cairn_primitives::PublicKey::from_hex(k).unwrap()).collect();

    // The attacker: same chain, its own key, limits far above the validators' so it can send what they refuse.
    let mut cfg = P2pConfig::new(chain_id, "127.0.0.1:0".parse().unwrap());
    cfg.bootstrap = (0..3)
        .map(|i| {
            let listen = configs[i]["p2p"]["listen"].as_str().unwrap();
            format!("{}@{listen}", p2p_keys[i]).parse::<PeerAddr>().unwrap()
        })
        .collect();
    cfg.max_message_bytes = 24 * 1024 * 1024;
    cfg.max_consensus_bytes = 4 * 1024 * 1024;
    cfg.event_queue_bytes = 4 * cfg.max_message_bytes;
    cfg.tx_event_queue_bytes = 4 * cfg.max_message_bytes;
    let attacker_key = Keypair::derived("hostile-peer", 0);
    // An observer connected to validator 0 only: whatever of the attacker's it hears, validator 0 forwarded.
    let mut ocfg = P2pConfig::new(chain_id_of(&net), "127.0.0.1:0".parse().unwrap());
    ocfg.bootstrap = vec![cfg.bootstrap[0]];
    let (observer, mut heard) = Network::start(&Keypair::derived("hostile-peer", 1), ocfg).await.unwrap();
    let forwarded = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = forwarded.clone();
    let attacker_pk = attacker_key.public();
    tokio::spawn(async move {
        while let Some(ev) = heard.recv().await {
            if let cairn_p2p::NetEvent::Gossip { from, .. } = ev
                && from == attacker_pk
            {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let (attacker, mut inbox) = Network::start(&attacker_key, cfg).await.unwrap();
    // Read (and drop) whatever the validators send, so the attacker's own queues never hold it back.
    tokio::spawn(async move { while inbox.recv().await.is_some() {} });
    let t0 = Instant::now();
    while attacker.gossip_peers(Topic::Consensus).await.is_empty() && t0.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let before = net.heights();
    let start_height = *before.iter().max().unwrap();
    let attack = Instant::now();
    let mut i = 0u64;
    while attack.elapsed() < Duration::from_secs(8) {
        i += 1;
        let h = attacker.clone();
        // Gossip: malformed consensus, an oversized one now and then, envelopes of a far-future epoch.
        let _ = h.broadcast(Topic::Consensus, junk(200 + i as usize % 300, i)).await;
        if i.is_multiple_of(25) {
            let _ = h.broadcast(Topic::Consensus, junk(2 * 1024 * 1024, i)).await;
        }
        let far = ConsensusEnvelope { epoch: 1 << 40, seq: i, bytes: junk(512, i) };
        let _ = h.broadcast(Topic::Consensus, cairn_node::wire::encode(&far)).await;
        // Bodies: junk, and well-formed blocks "proposed" by the attacker at heights just ahead.
        let _ = h.broadcast(Topic::Blocks, junk(4096, i)).await;
        let txs = vec![junk(64 * 1024, i)];
        let header = Header {
            chain_id: chain_id_of(&net),
            height: Height(start_height + 1 + i % 4),
            parent: Hash::digest(&i.to_le_bytes()),
            time_ms: 0,
            proposer: attacker_key.public(),
            txs_root: Block::txs_root(&txs),
            app_hash: Hash::ZERO,
            validators_hash: Hash::ZERO,
            last_commit_hash: Hash::ZERO,
            evidence_root: Hash::ZERO,
        };
        let _ = h
            .broadcast(
                Topic::Blocks,
                cairn_node::wire::encode(&Block {
                    header,
                    txs,
                    last_commit: Vec::new(),
                    evidence: Vec::new(),
                }),
            )
            .await;
        // Txs that are not txs.
        for k in 0..20 {
            let _ = h.broadcast(Topic::Txs, junk(300, i * 100 + k)).await;
        }
        // Direct junk and sync requests for everything, to every validator.
        for pk in &keys {
            let _ = h.send(*pk, junk(1000, i)).await;
            let (h2, pk) = (h.clone(), *pk);
            tokio::spawn(async move {
                let all = SyncRequest::Blocks { from: Height(1), max: u32::MAX };
                let _ = h2.request(pk, cairn_node::wire::encode(&all), Duration::from_secs(2)).await;
                let _ = h2.request(pk, junk(64, 7), Duration::from_secs(2)).await;
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (sent_rounds, attack_s) = (i, attack.elapsed().as_secs_f64());

    // The chain finalized through the flood and goes on after it.
    let during = net.heights();
    net.wait_progress(&before, 3, Duration::from_secs(60));

    // Memory stayed bounded.
    for v in 0..3 {
        let pid = net.pid(v).expect("validator process found");
        let rss = rss_bytes(pid).expect("VmRSS readable");
        eprintln!("validator {v}: RSS {} MiB after the flood", rss / (1024 * 1024));
        assert!(rss < RSS_BOUND, "validator {v} holds {} MiB (bound {} MiB)", rss >> 20, RSS_BOUND >> 20);
    }

    // The validators still see one another: nobody honest was banned.
    let deadline = Instant::now() + Duration::from_secs(20);
    for v in 0..3 {
        loop {
            let peers: Vec<String> = net.status(v)["peers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect();
            let others: Vec<&String> =
                validator_keys.iter().enumerate().filter(|(j, _)| *j != v).map(|(_, k)| k).collect();
            if others.iter().all(|k| peers.contains(k)) {
                break;
            }
            assert!(Instant::now() < deadline, "validator {v} lost an honest peer: {peers:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // The attacker was noticed.
    let (mut offences, mut not_forwarded) = (0, 0);
    for config in &configs {
        let http = config["api"]["http"].as_str().unwrap();
        let c = http_json(http, "/counters");
        offences +=
            c["p2p"]["offences"].as_u64().unwrap_or(0) + c["malformed_messages"].as_u64().unwrap_or(0);
        not_forwarded += c["p2p"]["gossip_not_forwarded"].as_u64().unwrap_or(0);
    }
    eprintln!(
        "hostile peer: {sent_rounds} rounds in {attack_s:.1} s; heights {before:?} -> {during:?} during; \
         {offences} offences and malformed messages counted, {not_forwarded} gossip messages not forwarded"
    );
    assert!(offences > 0, "no validator noticed the attacker");
    assert!(not_forwarded > 0, "the attacker's consensus and block gossip was forwarded");
    // Nothing it sent — junk txs included, which only CheckTx can judge — went on past validator 0.
    assert!(!observer.gossip_peers(Topic::Txs).await.is_empty(), "the observer is in validator 0's tx mesh");
    let forwarded = forwarded.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(forwarded, 0, "validator 0 forwarded {forwarded} of the attacker's gossip messages");
    observer.shutdown().await;
    attacker.shutdown().await;
    drop(net);
}

fn chain_id_of(net: &Localnet) -> cairn_primitives::ChainId {
    json_of(&net.home(0).join("config/genesis.json"))["chain_id"].as_str().unwrap().parse().unwrap()
}
