//! Evidence end to end on an in-memory network: validator 0 runs twice — a "twin" with the same key and the same
//! network slot (a misconfigured failover) — so when it leads it proposes two different blocks in one view (the
//! twin's mempool holds txs the original never sees). The others see the conflicting votes, the evidence lands in
//! a block every validator verified, and the application hears of it in `FinalizeBlock` (`misbehavior`), along with
//! every block's last-commit signers (`decided_last_commit`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_abci::{Application, CommitInfo, FinalizeBlockRequest, Misbehavior, QueryRequest};
use cairn_node::net::{MemoryHub, NetEvent, Transport};
use cairn_node::{Node, NodeHandle};
use kvstore::KvStore;
use tokio::sync::mpsc;

use crate::common::*;

type Seen = Arc<Mutex<Vec<(u64, Vec<Misbehavior>, Option<CommitInfo>)>>>;

/// The kvstore, recording what each `FinalizeBlock` reported. The twin's also adds a tx of its own to every
/// proposal it prepares, so whenever key 0 leads, the original and the twin propose different blocks in one view
/// (with mempool differences alone that happened only by chance, and the test took minutes on a loaded machine).
struct Recording {
    inner: KvStore,
    seen: Seen,
    twin: bool,
}

#[async_trait::async_trait]
impl Application for Recording {
    async fn info(&self, req: cairn_abci::InfoRequest) -> cairn_abci::AppResult<cairn_abci::InfoResponse> {
        self.inner.info(req).await
    }
    async fn init_chain(
        &self,
        req: cairn_abci::InitChainRequest,
    ) -> cairn_abci::AppResult<cairn_abci::InitChainResponse> {
        self.inner.init_chain(req).await
    }
    async fn check_tx(
        &self,
        req: cairn_abci::CheckTxRequest,
    ) -> cairn_abci::AppResult<cairn_abci::CheckTxResponse> {
        self.inner.check_tx(req).await
    }
    async fn prepare_proposal(
        &self,
        req: cairn_abci::PrepareProposalRequest,
    ) -> cairn_abci::AppResult<cairn_abci::PrepareProposalResponse> {
        let height = req.height.0;
        let mut resp = self.inner.prepare_proposal(req).await?;
        if self.twin {
            resp.txs.push(format!("twin{height}=x").into_bytes());
        }
        Ok(resp)
    }
    async fn process_proposal(
        &self,
        req: cairn_abci::ProcessProposalRequest,
    ) -> cairn_abci::AppResult<cairn_abci::ProposalStatus> {
        self.inner.process_proposal(req).await
    }
    async fn finalize_block(
        &self,
        req: FinalizeBlockRequest,
    ) -> cairn_abci::AppResult<cairn_abci::FinalizeBlockResponse> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((req.height.0, req.misbehavior.clone(), req.decided_last_commit.clone()));
        }
        self.inner.finalize_block(req).await
    }
    async fn commit(&self) -> cairn_abci::AppResult<cairn_abci::CommitResponse> {
        self.inner.commit().await
    }
    async fn query(&self, req: QueryRequest) -> cairn_abci::AppResult<cairn_abci::QueryResponse> {
        self.inner.query(req).await
    }
}

/// A copy of an event for the twin (requests expect one answer: only the original serves them).
fn copy(ev: &NetEvent) -> Option<NetEvent> {
    Some(match ev {
        NetEvent::Gossip { from, topic, data } => {
            NetEvent::Gossip { from: *from, topic: *topic, data: data.clone() }
        }
        NetEvent::Direct { from, data } => NetEvent::Direct { from: *from, data: data.clone() },
        NetEvent::PeerConnected(p) => NetEvent::PeerConnected(*p),
        NetEvent::PeerDisconnected(p) => NetEvent::PeerDisconnected(*p),
        NetEvent::Request { .. } => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_twin_validators_double_sign_lands_in_a_block_and_reaches_the_app() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("twin", 4);
    // Key 0 holds 20 of 50 power, so the three honest validators (30) are no quorum (34) alone: every view waits
    // for key 0's votes, and both the original and the twin get to propose and vote in it. With equal weights the
    // honest nodes could certify the faster instance's block before the slower one proposed at all.
    let mut genesis = genesis("evidence-twin", &keys);
    genesis.validators[0].power = 20;
    let hub = MemoryHub::new();
    let seen: Vec<Seen> = (0..4).map(|_| Seen::default()).collect();
    let app = |i: usize, twin: bool| {
        Arc::new(Recording { inner: KvStore::new(), seen: seen[i].clone(), twin }) as Arc<dyn Application>
    };

    // Validator 0 and its twin share one slot of the hub: both send as key 0 and both hear everything.
    let (t0, mut rx0) = hub.join(keys[0].public(), 8192);
    let (to_original, original_rx) = mpsc::channel(8192);
    let (to_twin, twin_rx) = mpsc::channel(8192);
    tokio::spawn(async move {
        while let Some(ev) = rx0.recv().await {
            if let Some(c) = copy(&ev) {
                let _ = to_twin.try_send(c);
            }
            let _ = to_original.send(ev).await;
        }
    });
    let start_on = |home: std::path::PathBuf,
                    i: usize,
                    twin: bool,
                    t: Arc<dyn Transport>,
                    rx: mpsc::Receiver<NetEvent>| {
        Node::builder(&home)
            .config(config(vec![]))
            .genesis(genesis.clone())
            .key(keys[i].clone())
            .app(app(i, twin))
            .transport(t, rx)
            .start()
    };
    let original = start_on(dir.path().join("node0"), 0, false, t0.clone(), original_rx).await?;
    let twin = start_on(dir.path().join("twin0"), 0, true, t0.clone(), twin_rx).await?;
    let mut honest: Vec<NodeHandle> = Vec::new();
    for (i, key) in keys.iter().enumerate().skip(1) {
        let (t, rx) = hub.join(key.public(), 8192);
        honest.push(start_on(dir.path().join(format!("node{i}")), i, false, t, rx).await?);
    }
    let handles: Vec<&NodeHandle> = honest.iter().collect();
    wait_height(&handles, 2, Duration::from_secs(30)).await?;

    // The twin's proposals differ from the original's (its app adds a tx), and so do its mempool's txs (its
    // gossip reaches the others, never the original): when key 0 leads, the two propose different blocks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut n = 0u64;
    let reported = loop {
        n += 1;
        let _ = twin.broadcast_tx(format!("twin{n}=x").into_bytes()).await;
        let found = seen[1].lock().ok().and_then(|s| s.iter().find(|(_, m, _)| !m.is_empty()).cloned());
        if let Some(found) = found {
            break found;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no misbehaviour reached the app within 90 s (honest heights {:?}, node 1: {:?}, twin: {:?}, original: {:?})",
            handles.iter().map(|h| h.status().height.0).collect::<Vec<_>>(),
            honest[0].counters(),
            twin.counters(),
            original.counters()
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
    };
    let (height, misbehavior, _) = reported;
    assert!(
        misbehavior.iter().all(|m| m.validator == keys[0].public()),
        "only key 0 double-signed: {misbehavior:?}"
    );
    assert!(misbehavior.iter().all(|m| m.height.0 <= height), "{misbehavior:?}");

    // Every honest node executed the same block with the same report (it is in the block, not in each node's view).
    wait_height(&handles, height, Duration::from_secs(30)).await?;
    for s in &seen[1..4] {
        let s = s.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let at = s.iter().find(|(h, _, _)| *h == height).map(|(_, m, _)| m.clone());
        assert_eq!(at.as_ref(), Some(&misbehavior), "every node reports the same misbehaviour at {height}");
        // The last commit: none for the first block, a quorum of h - 1 after it.
        for (h, _, commit) in s.iter() {
            match (h, commit) {
                (1, None) => {}
                (h, Some(c)) if *h > 1 => {
                    assert_eq!(c.height.0, h - 1);
                    // A quorum (34 of 50): key 0 and two honest validators at least.
                    assert!(c.signers.len() >= 3, "a quorum signed {}: {:?}", h - 1, c.signers);
                }
                other => panic!("unexpected last commit {other:?}"),
            }
        }
    }
    let top = handles.iter().map(|h| h.status().height.0).min().unwrap_or(0);
    assert_same_chain(&handles, top)?;
    // The evidence is committed once: no later block reports it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let repeats = seen[1].lock().map(|s| s.iter().filter(|(_, m, _)| *m == misbehavior).count()).unwrap_or(0);
    assert_eq!(repeats, 1, "the same evidence was committed twice");
    for h in honest.iter().chain([&original, &twin]) {
        h.shutdown().await;
    }
    Ok(())
}
