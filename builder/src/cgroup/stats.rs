//! What `stats` shows, read from a cgroup and the container's `/proc/PID/net/dev`.

use std::fs;
use std::path::Path;

use serde::Serialize;

use super::{Cgroup, Version};

/// One sample of a container's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// CPU time used, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (without inactive page cache, as docker counts it), bytes.
    pub memory: u64,
    /// The memory limit, bytes (the host's memory when unlimited).
    pub memory_limit: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
    /// Processes (tasks) in the cgroup.
    pub pids: u64,
    /// The pids limit, if any.
    pub pids_limit: Option<u64>,
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn keyed(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The host's memory (`MemTotal`), bytes.
pub fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl Cgroup {
    /// Reads the current usage.
    pub fn stats(&self) -> Stats {
        let host = host_memory();
        let mut s = Stats::default();
        match self.version {
            Version::V1 => {
                if let Some(d) = self.dir("cpuacct") {
                    s.cpu_ns = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
                }
                if let Some(d) = self.dir("memory") {
                    let usage = read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0);
                    let inactive =
                        keyed(&d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
                    s.memory = usage.saturating_sub(inactive);
                    let limit = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
                    s.memory_limit = limit.min(host);
                }
                if let Some(d) = self.dir("pids") {
                    s.pids = read_u64(&d.join("pids.current")).unwrap_or(0);
                    s.pids_limit = read_u64(&d.join("pids.max"));
                }
                if let Some(d) = self.dir("blkio") {
                    let text = fs::read_to_string(d.join("blkio.throttle.io_service_bytes"))
                        .unwrap_or_default();
                    for l in text.lines() {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        if let [_, op, v] = f.as_slice() {
                            let v: u64 = v.parse().unwrap_or(0);
                            match *op {
                                "Read" => s.block_read += v,
                                "Write" => s.block_write += v,
                                _ => {}
                            }
                        }
                    }
                }
            }
            Version::V2 => {
                let Some(d) = self.dir("") else { return s };
                s.cpu_ns = keyed(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
                let usage = read_u64(&d.join("memory.current")).unwrap_or(0);
                let inactive = keyed(&d.join("memory.stat"), "inactive_file").unwrap_or(0);
                s.memory = usage.saturating_sub(inactive);
                s.memory_limit = read_u64(&d.join("memory.max"))
                    .unwrap_or(u64::MAX)
                    .min(host);
                s.pids = read_u64(&d.join("pids.current")).unwrap_or(0);
                s.pids_limit = read_u64(&d.join("pids.max"));
                for l in fs::read_to_string(d.join("io.stat"))
                    .unwrap_or_default()
                    .lines()
                {
                    for kv in l.split_whitespace().skip(1) {
                        match kv.split_once('=') {
                            Some(("rbytes", v)) => s.block_read += v.parse().unwrap_or(0),
                            Some(("wbytes", v)) => s.block_write += v.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
        }
        if s.memory_limit == 0 {
            s.memory_limit = host;
        }
        s
    }
}

/// Received and sent bytes of every interface but `lo` in the network namespace of `pid`.
pub fn read_net_dev(pid: u32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}
