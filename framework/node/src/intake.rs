//! Gossiped txs into the mempool, off the driver's path.
//!
//! CheckTx runs here on every gossiped tx; only then does the node tell libp2p whether the batch was worth
//! forwarding (gossipsub holds it until this verdict), so a batch of junk stops at the first honest node instead of
//! reaching every validator. A batch is forwarded when at least one of its txs entered our mempool; anything else
//! (all duplicates, refused by CheckTx, a full pool) is *ignored* — not forwarded, and no blame on the peer: the node
//! does not know the app's codes, and a tx valid at the sender's state may be stale at ours.

use std::sync::Arc;

use cairn_p2p::{GossipVerdict, TxVerdict};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::shared::Shared;

/// Gossiped txs waiting for CheckTx beyond this are dropped (not forwarded): peers' mempools hold them and the
/// sender can resubmit.
pub(crate) const TX_INGEST_QUEUE: usize = 16_384;

/// One gossiped batch, with the network's pending verdict (none over the in-memory test network).
#[derive(Debug)]
pub(crate) struct GossipTxs {
    pub txs: Vec<Vec<u8>>,
    pub verdict: Option<TxVerdict>,
}

/// At most this many gossiped txs go to the app in one CheckTx batch: the batches waiting in the queue are taken
/// together, so the app checks their signatures at once (the gain grows with the batch; see docs/PERFORMANCE.md).
pub(crate) const CHECK_BATCH: usize = 1_024;

/// Runs the intake until every sender is gone.
pub(crate) fn spawn(shared: Arc<Shared>, mut rx: mpsc::Receiver<GossipTxs>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batches = vec![first];
            let mut count = batches[0].txs.len();
            while count < CHECK_BATCH
                && let Ok(next) = rx.try_recv()
            {
                count += next.txs.len();
                batches.push(next);
            }
            let sizes: Vec<usize> = batches.iter().map(|b| b.txs.len()).collect();
            let (txs, verdicts): (Vec<_>, Vec<_>) = batches.into_iter().map(|b| (b.txs, b.verdict)).unzip();
            let results = cairn_mempool::add_txs(&shared.mempool, &*shared.app, txs.concat()).await;
            let mut results = results.iter();
            let mut any = false;
            for (size, verdict) in sizes.into_iter().zip(verdicts) {
                // A fold, not `any`: `any` would stop at the first admitted tx and leave the rest of this batch's
                // results to the next batch.
                let admitted = results.by_ref().take(size).fold(false, |a, r| a | r.is_ok());
                any |= admitted;
                if let Some(v) = verdict {
                    v.report(if admitted { GossipVerdict::Accept } else { GossipVerdict::Ignore });
                }
            }
            if any {
                shared.tx_notify.notify_one();
            }
        }
    })
}
