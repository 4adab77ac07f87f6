//! A node whose application computes a different state than the rest of the chain must stop and say so with
//! both hashes — never blame (and ban) the honest peers whose blocks it cannot match.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cairn_abci::*;
use cairn_primitives::Hash;
use kvstore::KvStore;

use crate::common::*;

/// The kvstore, but from height 3 on it reports an app hash nobody else computes (a nondeterministic module, a
/// different app version).
struct Divergent(KvStore);

#[async_trait]
impl Application for Divergent {
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse> {
        self.0.info(req).await
    }
    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.0.init_chain(req).await
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        self.0.check_tx(req).await
    }
    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        self.0.prepare_proposal(req).await
    }
    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        self.0.process_proposal(req).await
    }
    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let height = req.height;
        let mut resp = self.0.finalize_block(req).await?;
        if height.0 >= 3 {
            resp.app_hash = Hash::digest_parts(&[b"divergent", resp.app_hash.as_bytes()]);
        }
        Ok(resp)
    }
    async fn commit(&self) -> AppResult<CommitResponse> {
        self.0.commit().await
    }
    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        self.0.query(req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_state_diverges_stops_with_both_hashes_and_bans_nobody() -> anyhow::Result<()> {
    init_tracing();
    let dir = tempfile::tempdir()?;
    let keys = keys("diverge", 4);
    let genesis = genesis("diverge", &keys);
    let nodes = start_p2p_net(dir.path(), &keys, &genesis, |i| -> Arc<dyn Application> {
        if i == 3 { Arc::new(Divergent(KvStore::new())) } else { Arc::new(KvStore::new()) }
    })
    .await?;
    let bad = nodes[3].handle();
    let stopped = tokio::time::timeout(Duration::from_secs(60), bad.stopped()).await;
    let err = match stopped {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => anyhow::bail!("the divergent node stopped without an error"),
        Err(_) => anyhow::bail!("the divergent node kept running for 60 s on a state nobody else has"),
    };
    assert!(err.contains("state diverged") && err.contains("quorum"), "{err}");
    // The three others keep finalizing, and none of them was blamed by the divergent node.
    let honest: Vec<_> = nodes[..3].iter().map(|n| n.handle()).collect();
    let h = honest[0].status().height.0;
    wait_height(&honest, h + 3, Duration::from_secs(30)).await?;
    assert_eq!(bad.counters().rejected_blocks, 0, "the divergent node rejected honest blocks as bad");
    Ok(())
}
