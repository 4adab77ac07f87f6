//! Restart from the WAL, block sync of a late joiner, rejection of bad certificates.

use std::sync::Arc;
use std::time::Duration;

use cairn_abci::Application;
use cairn_consensus::Certificate;
use cairn_node::NodeHandle;
use cairn_node::net::{MemoryHub, NetEvent};
use cairn_node::wire::{self, CertifiedBlock, SyncRequest, SyncResponse};
use cairn_primitives::Height;
use kvstore::KvStore;

use crate::common::*;

fn kv() -> Arc<dyn Application> {
    Arc::new(KvStore::new())
}

async fn submit(node: &NodeHandle, from: usize, count: usize) -> anyhow::Result<Vec<cairn_primitives::Hash>> {
    let mut out = Vec::new();
    for i in from..from + count {
        out.push(node.broadcast_tx(format!("r{i}=v{i}").into_bytes()).await?.0);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_validator_resumes_from_its_wal_and_catches_up() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("restart", 4);
    let genesis = genesis("restart", &keys);
    let mut nodes = start_p2p_net(dir.path(), &keys, &genesis, |_| kv()).await?;
    {
        let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
        wait_height(&handles, 3, Duration::from_secs(30)).await?;
    }

    // Stop node 3 (drop its handle after shutdown); the other three keep a quorum (30 of 40).
    let stopped = nodes[3].handle.take().expect("running");
    let stopped_at = stopped.status().height.0;
    stopped.shutdown().await;
    drop(stopped);
    let hashes = submit(nodes[0].handle(), 0, 10).await?;
    for h in &hashes {
        wait_tx(nodes[1].handle(), h, Duration::from_secs(30)).await?;
    }
    // The others move on without node 3 (node 0 may have lagged node 3 when it stopped: count from the higher).
    let ahead = nodes[0].handle().status().height.0.max(stopped_at) + 3;
    wait_height(&[nodes[0].handle(), nodes[1].handle(), nodes[2].handle()], ahead, Duration::from_secs(30))
        .await?;

    // Restart node 3 from its home with a fresh in-memory app: handshake replays its blocks, block sync
    // fetches the rest, then it votes again.
    let bootstrap = peer_addrs(&nodes[..3]);
    let handle = start(&nodes[3].home, &keys[3], &genesis, config(bootstrap), kv()).await?;
    nodes[3].handle = Some(handle);
    let target = nodes[0].handle().status().height.0 + 3;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, target, Duration::from_secs(60)).await?;
    let restarted = nodes[3].handle();
    assert!(restarted.counters().blocks_synced > 0, "node 3 caught up by block sync");
    for h in &hashes {
        let rec = wait_tx(restarted, h, Duration::from_secs(5)).await?;
        assert_eq!(rec.result.code, 0);
    }
    // Node 3 takes part again: with it, blocks finalize even when another validator stops.
    let other = nodes[2].handle.take().expect("running");
    other.shutdown().await;
    let handles: Vec<&NodeHandle> = [0, 1, 3].iter().map(|i| nodes[*i].handle()).collect();
    let top = handles.iter().map(|h| h.status().height.0).max().unwrap_or(0);
    wait_height(&handles, top + 3, Duration::from_secs(60)).await?;
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    for h in &handles {
        assert_eq!(h.counters().evidence, 0, "no double vote anywhere");
    }
    for n in &nodes {
        if let Some(h) = &n.handle {
            h.shutdown().await;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_joiner_syncs_from_height_one_with_validator_updates() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("late", 5);
    // Genesis has validators 0..4; node 4 is added by a tx, then joins late and must sync everything.
    let genesis = genesis("late", &keys[..4]);
    let mut nodes = start_p2p_net(dir.path(), &keys[..4], &genesis, |_| kv()).await?;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, 2, Duration::from_secs(30)).await?;
    let add = format!("val:{}!10", keys[4].public().to_hex());
    let (hash, _) = handles[0].broadcast_tx(add.into_bytes()).await?;
    let rec = wait_tx(handles[0], &hash, Duration::from_secs(20)).await?;
    assert_eq!(rec.result.code, 0, "{}", rec.result.log);
    // The update returned at H applies at H+2.
    wait_height(&handles, rec.height.0 + 2, Duration::from_secs(20)).await?;
    let (b1, _) = handles[0].block(Height(rec.height.0 + 1))?.expect("stored");
    let (b2, _) = handles[0].block(Height(rec.height.0 + 2))?.expect("stored");
    assert_eq!(b1.header.validators_hash, nodes_set_hash(&keys[..4]), "H+1 still under the old set");
    assert_eq!(b2.header.validators_hash, nodes_set_hash(&keys[..5]), "H+2 under the new set");
    submit(handles[1], 100, 10).await?;
    let target = handles[0].status().height.0 + 4;
    wait_height(&handles, target, Duration::from_secs(30)).await?;

    // The 5th validator starts from nothing.
    let home = dir.path().join("node4");
    let handle = start(&home, &keys[4], &genesis, config(peer_addrs(&nodes)), kv()).await?;
    nodes.push(crate::common::TestNode { key: keys[4].clone(), home, handle: Some(handle) });
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    let target = handles[0].status().height.0 + 3;
    wait_height(&handles, target, Duration::from_secs(60)).await?;
    assert!(handles[4].counters().blocks_synced >= 5, "synced: {:?}", handles[4].counters());
    assert!(handles[4].status().is_validator);
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}

fn nodes_set_hash(keys: &[cairn_primitives::Keypair]) -> cairn_primitives::Hash {
    genesis("x", keys).validator_set().unwrap().hash()
}

/// A fake peer on the hub that serves `blocks` for every sync request, optionally with broken certificates.
fn fake_server(hub: &MemoryHub, key: cairn_primitives::PublicKey, blocks: Vec<CertifiedBlock>) {
    let (_t, mut rx) = hub.join(key, 1024);
    tokio::spawn(async move {
        let _keep = _t;
        while let Some(ev) = rx.recv().await {
            if let NetEvent::Request { data, reply, .. } = ev {
                let resp = match wire::decode::<SyncRequest>(&data, 1 << 20) {
                    Ok(SyncRequest::Blocks { from, .. }) => SyncResponse::Blocks(
                        blocks.iter().filter(|b| b.block.header.height >= from).cloned().collect(),
                    ),
                    Ok(SyncRequest::Status) => SyncResponse::Status {
                        height: Height(blocks.len() as u64),
                        last_block_id: cairn_primitives::Hash::ZERO,
                    },
                    _ => SyncResponse::Body(None),
                };
                let _ = reply.send(wire::encode(&resp));
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_rejects_blocks_with_bad_certificates() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("badcert", 1);
    let genesis = genesis("badcert", &keys);
    // A real one-validator chain produces blocks with genuine certificates.
    let source = start(&dir.path().join("source"), &keys[0], &genesis, config(vec![]), kv()).await?;
    source.broadcast_tx(b"a=1".to_vec()).await?;
    wait_height(&[&source], 4, Duration::from_secs(20)).await?;
    let mut genuine = Vec::new();
    for h in 1..=4 {
        let (block, certificate) = source.block(Height(h))?.expect("stored");
        genuine.push(CertifiedBlock { block, certificate });
    }
    source.shutdown().await;

    // Forged: the signature bytes of block 1's certificate are altered.
    let mut forged = genuine.clone();
    let mut cert: Certificate = cairn_primitives::decode(&forged[0].certificate, 1 << 20)?;
    cert.signers[0].1.0[5] ^= 1;
    forged[0].certificate = cairn_primitives::encode(&cert);
    // And one signed by a key that is not a validator.
    let stranger = cairn_primitives::Keypair::derived("stranger", 0);
    let mut wrong_signer = genuine.clone();
    let mut cert: Certificate = cairn_primitives::decode(&wrong_signer[0].certificate, 1 << 20)?;
    cert.signers[0].1 = cert.vote.sign(&genesis.chain_id, &stranger);
    wrong_signer[0].certificate = cairn_primitives::encode(&cert);

    for (name, bad) in [("forged signature", forged), ("non-validator signer", wrong_signer)] {
        let hub = MemoryHub::new();
        let liar = cairn_primitives::Keypair::derived("liar", 0).public();
        fake_server(&hub, liar, bad);
        // A full node (not a validator) that can only learn blocks by sync.
        let me = cairn_primitives::Keypair::derived("follower", 0);
        let (t, rx) = hub.join(me.public(), 1024);
        let follower = cairn_node::Node::builder(dir.path().join(format!("follower-{name}")))
            .config(config(vec![]))
            .genesis(genesis.clone())
            .key(me.clone())
            .app(kv())
            .transport(t, rx)
            .start()
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while follower.counters().rejected_blocks == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(follower.counters().rejected_blocks > 0, "{name}: the bad block was rejected");
        assert_eq!(follower.status().height, Height(0), "{name}: nothing was applied");
        assert!(
            hub.reports().iter().any(|(by, peer, _)| *by == me.public() && *peer == liar),
            "{name}: liar reported"
        );
        follower.shutdown().await;
    }

    // The genuine certificates sync.
    let hub = MemoryHub::new();
    let honest = cairn_primitives::Keypair::derived("honest", 0).public();
    fake_server(&hub, honest, genuine);
    let me = cairn_primitives::Keypair::derived("follower", 1);
    let (t, rx) = hub.join(me.public(), 1024);
    let follower = cairn_node::Node::builder(dir.path().join("follower-ok"))
        .config(config(vec![]))
        .genesis(genesis.clone())
        .key(me)
        .app(kv())
        .transport(t, rx)
        .start()
        .await?;
    wait_height(&[&follower], 4, Duration::from_secs(10)).await?;
    assert_eq!(follower.counters().rejected_blocks, 0);
    let resp = follower
        .query(cairn_abci::QueryRequest { path: "/store".into(), data: b"a".to_vec(), ..Default::default() })
        .await?;
    assert_eq!(resp.value, b"1");
    follower.shutdown().await;
    Ok(())
}

/// A request of a kind this version does not know comes from a newer peer, not a bad one: it is answered with an
/// error that says so, and the peer is not reported. A known kind with a broken body still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_a_newer_kind_is_answered_not_blamed() -> anyhow::Result<()> {
    use cairn_node::net::Transport;
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("newer", 1);
    let genesis = genesis("newer", &keys);
    let hub = MemoryHub::new();
    let (t, rx) = hub.join(keys[0].public(), 1024);
    let node = cairn_node::Node::builder(dir.path().join("node"))
        .config(config(vec![]))
        .genesis(genesis)
        .key(keys[0].clone())
        .app(kv())
        .transport(t, rx)
        .start()
        .await?;
    let peer = cairn_primitives::Keypair::derived("newer-peer", 0);
    let (me, _rx) = hub.join(peer.public(), 1024);
    let blamed = |hub: &MemoryHub| hub.reports().iter().any(|(_, p, _)| *p == peer.public());

    let answer = me
        .request(keys[0].public(), vec![<SyncRequest as wire::Kinds>::KNOWN, 0, 0], Duration::from_secs(5))
        .await;
    let answer = answer.map_err(|e| anyhow::anyhow!(e))?;
    match wire::decode::<SyncResponse>(&answer, 1 << 20)? {
        SyncResponse::Error(m) => assert!(m.contains("newer cairn"), "{m}"),
        other => panic!("expected an error answer, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blamed(&hub), "a newer peer was reported");

    let _ = me.request(keys[0].public(), vec![1, 9], Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(blamed(&hub), "a malformed request of a known kind is reported");
    node.shutdown().await;
    Ok(())
}

/// A quorum's certificate does not make a header's proposer right. Under BFT the certificate names the view, so
/// block sync checks, as a live vote does, that the proposer is that view's leader (a leader cannot credit
/// someone else with its block). Two validators sign Finalize for two versions of block 1 that differ only in
/// the proposer: exactly one — the leader's — syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_refuses_a_certified_block_whose_proposer_is_not_the_views_leader() -> anyhow::Result<()> {
    use cairn_consensus::{Vote, VoteKind};
    use cairn_primitives::{Block, Header};
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("leadercheck", 2);
    let genesis = genesis("leadercheck", &keys);
    let set = genesis.validator_set()?;
    let app_hash = kv().init_chain(genesis.init_chain_request()).await?.app_hash;
    let mut accepted = Vec::new();
    for (i, proposer) in keys.iter().enumerate() {
        let header = Header {
            chain_id: genesis.chain_id.clone(),
            height: Height(1),
            parent: cairn_primitives::Hash::ZERO,
            time_ms: genesis.genesis_time_ms + 1_000,
            proposer: proposer.public(),
            txs_root: Block::txs_root(&[]),
            app_hash,
            validators_hash: set.hash(),
            last_commit_hash: Block::last_commit_hash(&[]),
            evidence_root: Block::evidence_root(&[]),
        };
        let block = Block { header, txs: vec![], last_commit: vec![], evidence: vec![] };
        let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 0, block: block.id() };
        let mut signers: Vec<(u32, cairn_primitives::Signature)> = keys
            .iter()
            .map(|k| {
                let index = set.index_of(&k.public()).expect("a validator") as u32;
                (index, vote.sign(&genesis.chain_id, k))
            })
            .collect();
        signers.sort_by_key(|(index, _)| *index);
        let certificate = cairn_primitives::encode(&Certificate::new(vote, signers));

        let hub = MemoryHub::new();
        fake_server(
            &hub,
            cairn_primitives::Keypair::derived("server", 0).public(),
            vec![CertifiedBlock { block, certificate }],
        );
        let me = cairn_primitives::Keypair::derived("follower", 0);
        let (t, rx) = hub.join(me.public(), 1024);
        let follower = cairn_node::Node::builder(dir.path().join(format!("follower-{i}")))
            .config(config(vec![]))
            .genesis(genesis.clone())
            .key(me)
            .app(kv())
            .transport(t, rx)
            .start()
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while follower.counters().rejected_blocks == 0
            && follower.status().height == Height(0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (height, rejected) = (follower.status().height, follower.counters().rejected_blocks);
        assert!(height == Height(1) || rejected > 0, "proposer {i}: neither applied nor rejected");
        if height == Height(1) {
            accepted.push(i);
        }
        follower.shutdown().await;
    }
    assert_eq!(accepted.len(), 1, "exactly the view's leader's block syncs, got proposers {accepted:?}");
    Ok(())
}

/// Crashes (aborts) validators one at a time at random moments — possibly between `FinalizeBlock` and `Commit`
/// — and restarts them from their homes with their persisted app state, while txs flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validators_crashing_one_at_a_time_lose_nothing_and_never_double_vote() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("crash", 4);
    let genesis = genesis("crash", &keys);
    let app_file = |i: usize| dir.path().join(format!("app{i}.state"));
    let persisted =
        |i: usize| -> Arc<dyn Application> { Arc::new(KvStore::with_state_file(app_file(i)).unwrap()) };
    let mut nodes = start_p2p_net(dir.path(), &keys, &genesis, persisted).await?;
    wait_height(&nodes.iter().map(|n| n.handle()).collect::<Vec<_>>(), 2, Duration::from_secs(30)).await?;

    let mut acknowledged = Vec::new();
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    for round in 0..6 {
        let victim = round % 4;
        let submitter = (victim + 1) % 4;
        let mut this_round = Vec::new();
        for j in 0..5 {
            let (hash, _) =
                nodes[submitter].handle().broadcast_tx(format!("c{round}x{j}=v").into_bytes()).await?;
            this_round.push(hash);
        }
        tokio::time::sleep(Duration::from_millis(100 + next() % 500)).await;
        let handle = nodes[victim].handle.take().expect("running");
        handle.abort().await;
        drop(handle);
        tokio::time::sleep(Duration::from_millis(200 + next() % 300)).await;
        let bootstrap = peer_addrs(&nodes);
        let handle =
            start(&nodes[victim].home, &keys[victim], &genesis, config(bootstrap), persisted(victim)).await?;
        nodes[victim].handle = Some(handle);
        // The submitter did not crash: its txs (in flight while the victim crashed) are finalized and
        // acknowledged as committed before the submitter itself becomes the next victim.
        for hash in &this_round {
            wait_tx(nodes[submitter].handle(), hash, Duration::from_secs(30)).await?;
        }
        acknowledged.extend(this_round);
    }
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    // Every tx acknowledged as committed is finalized on every node, including the restarted ones.
    for hash in &acknowledged {
        for node in &handles {
            wait_tx(node, hash, Duration::from_secs(60)).await?;
        }
    }
    let top = handles.iter().map(|h| h.status().height.0).max().unwrap_or(0);
    wait_height(&handles, top + 2, Duration::from_secs(60)).await?;
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    for h in &handles {
        assert_eq!(h.counters().evidence, 0, "no double vote after crashes");
    }
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}

/// A chain on the sampling engine: a validator that was down rejoins by block sync. With five validators, four
/// keep sampling (k = 4, α = 3), so the blocks it missed carry only their sender's attestation; the restarted node
/// applies one once attestations of more than a third of the weight (two validators, from successive sync rounds)
/// agree on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snow_validator_rejoins_by_block_sync_from_attestations() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("snow-sync", 5);
    let mut genesis = genesis("snow-sync", &keys);
    genesis.consensus_params.engine = cairn_abci::EngineKind::Snow;
    let mut nodes = start_p2p_net(dir.path(), &keys, &genesis, |_| kv()).await?;
    {
        let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
        wait_height(&handles, 3, Duration::from_secs(30)).await?;
    }
    let stopped = nodes[4].handle.take().expect("running");
    let stopped_at = stopped.status().height.0;
    stopped.shutdown().await;
    drop(stopped);
    let ahead = nodes[0].handle().status().height.0.max(stopped_at) + 8;
    wait_height(&[nodes[0].handle(), nodes[1].handle(), nodes[2].handle()], ahead, Duration::from_secs(60))
        .await?;

    let bootstrap = peer_addrs(&nodes[..4]);
    nodes[4].handle = Some(start(&nodes[4].home, &keys[4], &genesis, config(bootstrap), kv()).await?);
    let target = nodes[0].handle().status().height.0 + 2;
    let handles: Vec<&NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    wait_height(&handles, target, Duration::from_secs(60)).await?;
    // The blocks it missed were finalized by sampling (attestations, not quorum certificates).
    let mut sampled = 0;
    for h in stopped_at + 1..=ahead {
        if let Some((_, cert)) = nodes[4].handle().block(Height(h))? {
            let c: Certificate = cairn_primitives::decode(&cert, 1 << 20)?;
            sampled += usize::from(c.vote.kind == cairn_consensus::VoteKind::Prefer);
        }
    }
    assert!(sampled > 0, "no block in the gap was finalized by sampling: the test proves nothing");
    let synced = nodes[4].handle().counters().blocks_synced;
    assert!(synced > 0, "the restarted node applied no block by sync");
    for n in &nodes {
        n.handle().shutdown().await;
    }
    Ok(())
}
