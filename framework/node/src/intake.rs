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

/// Runs the intake until every sender is gone.
pub(crate) fn spawn(shared: Arc<Shared>, mut rx: mpsc::Receiver<GossipTxs>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(GossipTxs { txs, verdict }) = rx.recv().await {
            let mut admitted = false;
            for tx in txs {
                admitted |= cairn_mempool::add_tx(&shared.mempool, &*shared.app, tx).await.is_ok();
            }
            if admitted {
                shared.tx_notify.notify_one();
            }
            if let Some(v) = verdict {
                v.report(if admitted { GossipVerdict::Accept } else { GossipVerdict::Ignore });
            }
        }
    })
}
