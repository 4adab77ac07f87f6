//! Running localnet nodes as child processes (`cairn start --home nodeI`), each logging to `nodeI/node.log`.
//!
//! Children are killed when the [`Processes`] value is dropped — on success, on error and on Ctrl-C (the
//! commands turn Ctrl-C into an early return), so a demo never leaves nodes behind.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use super::chain::LocalNode;
use super::client;

/// The `cairn` binary the children run (this very binary).
pub fn cairn_exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the path of the running cairn binary")
}

/// The child processes of a localnet.
pub struct Processes {
    pub nodes: Vec<LocalNode>,
    children: Vec<Option<Child>>,
    exe: PathBuf,
}

impl Processes {
    pub fn new(nodes: Vec<LocalNode>) -> Result<Processes> {
        let n = nodes.len();
        Ok(Processes { nodes, children: (0..n).map(|_| None).collect(), exe: cairn_exe()? })
    }

    /// Lets the children run on after this value is dropped and this process exits (`--keep`). Until then
    /// they are killed on drop, so an error or Ctrl-C never leaves nodes behind.
    pub fn detach(&mut self) {
        for c in self.children.iter_mut() {
            if let Some(child) = c.take() {
                // Forgetting the handle skips its kill-on-drop; the process itself is not ours to wait for any more.
                std::mem::forget(child);
            }
        }
    }

    /// Starts node `i` (appending to its log).
    pub fn start(&mut self, i: usize) -> Result<()> {
        let node = self.nodes.get(i).context("no such node")?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())
            .with_context(|| format!("cannot open {}", node.log_path().display()))?;
        let log2 = log.try_clone().context("cannot duplicate the log file handle")?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("start")
            .arg("--home")
            .arg(&node.home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let child = cmd.spawn().with_context(|| {
            format!("cannot start {} start --home {}", self.exe.display(), node.home.display())
        })?;
        self.children[i] = Some(child);
        Ok(())
    }

    pub fn start_all(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// `kill -9` node `i` and reap it.
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut c) = self.children.get_mut(i).and_then(Option::take) {
            c.start_kill().ok();
            c.wait().await.ok();
        }
        Ok(())
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children.get(i).and_then(|c| c.as_ref()).and_then(Child::id)
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.children.get(i).is_some_and(Option::is_some)
    }

    /// Fails if a started node has exited, naming it and quoting the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        for (i, slot) in self.children.iter_mut().enumerate() {
            if let Some(c) = slot
                && let Ok(Some(status)) = c.try_wait()
            {
                *slot = None;
                let node = &self.nodes[i];
                bail!(
                    "node{i} exited ({status}); the end of {}:\n{}",
                    node.log_path().display(),
                    log_tail(&node.log_path(), 15)
                );
            }
        }
        Ok(())
    }

    /// Stops every node: SIGKILL and reap (the nodes are crash-safe by design; a clean stop is not needed).
    pub async fn stop_all(&mut self) {
        for i in 0..self.children.len() {
            let _ = self.kill(i).await;
        }
    }

    /// Waits until every running node answers on its API and has finalized at least `height`.
    pub async fn wait_for_height(&mut self, height: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let urls: Vec<(usize, String)> =
            self.nodes.iter().filter(|n| self.is_running(n.index)).map(|n| (n.index, n.grpc_url())).collect();
        for (i, url) in urls {
            loop {
                self.check_alive()?;
                let reached = match client::connect_quiet(&url).await {
                    Some(mut c) => {
                        client::status(&mut c, &url).await.map(|s| s.height >= height).unwrap_or(false)
                    }
                    None => false,
                };
                if reached {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "node{i} did not reach height {height} within {} s; the end of {}:\n{}",
                        timeout.as_secs(),
                        self.nodes[i].log_path().display(),
                        log_tail(&self.nodes[i].log_path(), 15)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

/// The last `n` lines of a log file (for error messages).
pub fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}
