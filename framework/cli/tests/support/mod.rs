//! A real `cairn localnet` for integration tests: started as a child process, its endpoints read from its output,
//! stopped (SIGTERM, then kill) when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

pub struct Localnet {
    child: Child,
    /// The gRPC endpoint of each validator.
    pub grpc: Vec<String>,
    /// The chain directory (`nodeI/` per validator).
    pub dir: PathBuf,
}

impl Localnet {
    /// Starts `validators` validators of template `small` under `dir` and waits until they run.
    pub fn start(dir: &Path, validators: usize) -> Localnet {
        let mut child = Command::new(CAIRN)
            .args(["localnet", "--validators", &validators.to_string(), "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut grpc = Vec::new();
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.split("grpc ").nth(1).and_then(|r| r.split_whitespace().next()) {
                grpc.push(url.to_string());
            }
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
        // Keep draining localnet's stderr: a closed pipe would end it (and its validators) at its next line.
        std::thread::spawn(move || lines.for_each(drop));
        assert_eq!(grpc.len(), validators, "localnet printed its endpoints");
        Localnet { child, grpc, dir: dir.to_path_buf() }
    }

    /// A validator's `cairn status --json`.
    pub fn status(&self, i: usize) -> serde_json::Value {
        let out = Command::new(CAIRN).args(["status", "--json", "--node", &self.grpc[i]]).output().unwrap();
        assert!(
            out.status.success(),
            "node {} does not answer: {}",
            self.grpc[i],
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn heights(&self) -> Vec<u64> {
        (0..self.grpc.len()).map(|i| self.status(i)["height"].as_u64().unwrap()).collect()
    }

    /// Waits until every validator is at least `blocks` past `before`, or fails after `within`.
    pub fn wait_progress(&self, before: &[u64], blocks: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.heights();
            if now.iter().zip(before).all(|(n, b)| *n >= b + blocks) {
                return;
            }
            assert!(Instant::now() < deadline, "the chain stopped finalizing: {before:?} -> {now:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A validator's home directory.
    pub fn home(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    /// The process id of validator `i` (`cairn start --home …/nodeI`), found in /proc.
    pub fn pid(&self, i: usize) -> Option<u32> {
        let home = self.home(i);
        let home = home.to_string_lossy();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args: Vec<String> =
                cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            if args.iter().any(|a| a == "start") && args.iter().any(|a| a.trim_end_matches('/') == home) {
                return Some(pid);
            }
        }
        None
    }
}

/// Resident memory of a process in bytes (Linux `VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

impl Drop for Localnet {
    fn drop(&mut self) {
        // SIGTERM lets localnet stop its validators; kill as a fallback.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
