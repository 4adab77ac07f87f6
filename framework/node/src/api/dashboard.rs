//! The dashboard a person opens in a browser (`GET /` on the HTTP listener), and the two routes only it needs:
//! `GET /events` (finalized blocks as server-sent events, so finality latency is the node's own figure, not a
//! polling artefact) and `GET /process` (this process's CPU time and resident memory, from `/proc`).
//!
//! The page is one static file compiled into the binary: no build step, no CDN, nothing fetched from outside.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, watch};

use super::backend::Backend;
use crate::types::NodeEvent;

/// Open `/events` streams at once; more get 503 (each holds a broadcast receiver and a task's worth of memory).
pub(super) const MAX_EVENT_STREAMS: usize = 32;

const PAGE: &str = include_str!("dashboard.html");

pub(super) async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

/// Finalized blocks as `event: block` with the `NodeEvent::NewBlock` JSON. A slow reader that lags behind the
/// node's event buffer gets `event: lagged` and the stream ends (the page reconnects).
/// What `/events` needs: the node, the stream slots, and the shutdown signal (an open stream would otherwise
/// hold a graceful shutdown until its grace period ends).
pub(super) type EventsState<B> = (Arc<B>, Arc<Semaphore>, watch::Receiver<bool>);

pub(super) async fn events<B: Backend>(
    State((b, slots, stop)): State<EventsState<B>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, (axum::http::StatusCode, &'static str)> {
    let permit = slots
        .try_acquire_owned()
        .map_err(|_| (axum::http::StatusCode::SERVICE_UNAVAILABLE, "too many open event streams"))?;
    let rx = b.subscribe();
    let stream = futures::stream::unfold(Some((rx, permit, stop)), |state| async move {
        let (mut rx, permit, stop) = state?;
        loop {
            let next = tokio::select! {
                _ = super::stopped(stop.clone()) => return None,
                next = rx.recv() => next,
            };
            match next {
                Ok(ev @ NodeEvent::NewBlock { .. }) => {
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    return Some((Ok(Event::default().event("block").data(data)), Some((rx, permit, stop))));
                }
                Ok(NodeEvent::Tx { .. }) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), None));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// This process's cumulative CPU seconds and resident bytes (Linux `/proc`; nulls elsewhere). The page turns two
/// readings into a CPU percentage.
pub(super) async fn process() -> axum::Json<Value> {
    let usage = process_usage(std::process::id());
    axum::Json(json!({
        "cpu_seconds": usage.map(|u| u.cpu_ticks as f64 / USER_HZ),
        "rss_bytes": usage.map(|u| u.rss_bytes),
    }))
}

/// Clock ticks per second of `/proc`'s CPU times (USER_HZ; 100 on every Linux cairn runs on).
pub const USER_HZ: f64 = 100.0;

/// CPU time and memory of a process, from Linux `/proc` (`cairn bench` reads its validators' with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessUsage {
    /// utime + stime, in clock ticks ([`USER_HZ`] per second).
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// `None` where `/proc/PID` cannot be read (another OS, or the process is gone).
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may itself contain spaces); utime and stime are
    // fields 14 and 15 of stat, and `rest` starts at field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcessUsage { cpu_ticks: utime + stime, rss_bytes: kb * 1024 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            let burn: u64 = (0..20_000_000u64).fold(0, |a, x| a.wrapping_add(x * x));
            assert!(burn > 0);
            let u = process_usage(std::process::id()).unwrap();
            assert!(u.rss_bytes > 1024 * 1024, "a test process uses more than 1 MiB");
            assert!(u.cpu_ticks > 0);
        }
    }
}
