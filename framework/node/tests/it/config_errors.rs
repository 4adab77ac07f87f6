//! Broken files, busy ports and garbage from peers give errors (or drops) that say what is wrong.

use std::sync::Arc;
use std::time::Duration;

use cairn_abci::Application;
use cairn_node::{Node, NodeConfig, NodeKeyFile};
use cairn_p2p::{Network, P2pConfig, PeerAddr, Topic};
use kvstore::KvStore;

use crate::common::*;

fn kv() -> Arc<dyn Application> {
    Arc::new(KvStore::new())
}

/// Writes a complete home directory (config, genesis, key) and returns it.
fn write_home(dir: &std::path::Path, config: &NodeConfig) -> anyhow::Result<std::path::PathBuf> {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("config"))?;
    let keys = keys("files", 1);
    std::fs::write(home.join("config/config.toml"), config.to_toml())?;
    std::fs::write(home.join("config/genesis.json"), genesis("files", &keys).to_json())?;
    NodeKeyFile::write(&home.join("config/priv_validator_key.json"), &keys[0])?;
    Ok(home)
}

/// A home written before the p2p key was split from the validator key (`key_file` names
/// `config/node_key.json`, which holds the validator key, readable by others) starts: the key moves to
/// `config/priv_validator_key.json`, a fresh p2p key takes its old place, config.toml names the new file, and
/// the node still signs as its validator (it finalizes its single-validator chain). A restart changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_single_key_home_is_migrated_on_start() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let mut old = config(vec![]);
    old.key_file = "config/node_key.json".into();
    let home = write_home(dir.path(), &old)?;
    let validator = keys("files", 1).remove(0);
    std::fs::rename(home.join("config/priv_validator_key.json"), home.join("config/node_key.json"))?;
    std::fs::set_permissions(home.join("config/node_key.json"), std::fs::Permissions::from_mode(0o644))?;
    assert!(
        std::fs::read_to_string(home.join("config/config.toml"))?
            .contains("key_file = \"config/node_key.json\"")
    );

    let node = Node::builder(&home).app(kv()).start().await?;
    wait_height(&[&node], 2, Duration::from_secs(20)).await?;
    let status = node.status();
    node.shutdown().await;
    assert_eq!(status.node_key, validator.public(), "still the same validator");
    assert_ne!(status.p2p_key, validator.public(), "with a p2p key of its own");
    let mode = |f: &str| std::fs::metadata(home.join(f)).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(NodeKeyFile::load(&home.join("config/priv_validator_key.json"))?.public(), validator.public());
    assert_eq!(NodeKeyFile::load(&home.join("config/node_key.json"))?.public(), status.p2p_key);
    assert_eq!((mode("config/priv_validator_key.json")?, mode("config/node_key.json")?), (0o600, 0o600));
    let config = NodeConfig::load(&home.join("config/config.toml"))?;
    assert_eq!(config.key_file, std::path::Path::new("config/priv_validator_key.json"));
    assert!(home.join("data/priv_validator_state.json").exists(), "the last-signed state is where it was");

    let node = Node::builder(&home).app(kv()).start().await?;
    wait_height(&[&node], status.height.0 + 1, Duration::from_secs(20)).await?;
    let again = node.status();
    node.shutdown().await;
    assert_eq!((again.node_key, again.p2p_key), (status.node_key, status.p2p_key), "migrated once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_and_genesis_name_the_field() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let home = write_home(dir.path(), &config(vec![]))?;

    // A good home starts (and proves the files above are valid).
    let node = Node::builder(&home).app(kv()).start().await?;
    wait_height(&[&node], 1, Duration::from_secs(20)).await?;
    node.shutdown().await;

    let cfg = home.join("config/config.toml");
    let good = std::fs::read_to_string(&cfg)?;
    std::fs::write(&cfg, good.replace("max_txs = 50000", "max_txs = \"lots\""))?;
    let err = Node::builder(&home).app(kv()).start().await.err().expect("broken config").to_string();
    assert!(err.contains("mempool.max_txs") && err.contains("config.toml"), "{err}");
    std::fs::write(&cfg, &good)?;

    let gen_path = home.join("config/genesis.json");
    let good_gen = std::fs::read_to_string(&gen_path)?;
    let mut v: serde_json::Value = serde_json::from_str(&good_gen)?;
    v["validators"][0]["power"] = serde_json::json!(-3);
    std::fs::write(&gen_path, v.to_string())?;
    let err = Node::builder(&home).app(kv()).start().await.err().expect("broken genesis").to_string();
    assert!(err.contains("validators[0].power") && err.contains("genesis.json"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_reported_with_the_field_to_change() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut c = config(vec![]);
    c.p2p.listen = busy.local_addr()?;
    let keys = keys("port", 1);
    let err = start(dir.path(), &keys[0], &genesis("port", &keys), c, kv()).await.err().expect("port busy");
    let msg = err.to_string();
    assert!(msg.contains("already in use") && msg.contains("p2p.listen"), "{msg}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_grpc_app_is_a_clear_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = config(vec![]);
    c.app.mode = cairn_node::AppMode::Grpc;
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    c.app.address = format!("http://{free}");
    let home = write_home(dir.path(), &c)?;
    let err = Node::builder(&home).start().await.err().expect("no app").to_string();
    assert!(err.contains("cannot reach the application at"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_peer_is_dropped_and_counted() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("garbage", 1);
    let genesis = genesis("garbage", &keys);
    let node = start(dir.path(), &keys[0], &genesis, config(vec![]), kv()).await?;
    wait_height(&[&node], 1, Duration::from_secs(20)).await?;

    // A rogue peer of the same chain connects and sends bytes that decode as nothing.
    let rogue = cairn_primitives::Keypair::derived("rogue", 0);
    let mut p2p = P2pConfig::new(genesis.chain_id.clone(), "127.0.0.1:0".parse()?);
    p2p.bootstrap = vec![PeerAddr::new(Some(keys[0].public()), node.p2p_addr().expect("p2p"))];
    let (net, _events) = Network::start(&rogue, p2p).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.status().peers.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!node.status().peers.is_empty(), "rogue connected");
    // Let gossip meshes form before publishing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = net.broadcast(Topic::Consensus, vec![0xff; 64]).await;
    let _ = net.broadcast(Topic::Blocks, vec![7; 100]).await;
    let _ = net.send(keys[0].public(), vec![1, 2, 3]).await;
    let answer = net.request(keys[0].public(), vec![9; 10], Duration::from_secs(2)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node.counters().malformed_messages == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(node.counters().malformed_messages >= 1, "counted: {:?}; answer {answer:?}", node.counters());
    // The node keeps finalizing.
    let h = node.status().height.0;
    wait_height(&[&node], h + 2, Duration::from_secs(20)).await?;
    assert!(node.fatal_error().is_none());
    net.shutdown().await;
    node.shutdown().await;
    Ok(())
}
