//! Resource limits through cgroups, one cgroup per container (or RUN step), v1 and v2.
//!
//! - v2 (unified, `/sys/fs/cgroup/cgroup.controllers` exists): `/sys/fs/cgroup/strata/<name>`
//!   with `memory.max`, `memory.swap.max`, `cpu.max`, `cpu.weight`, `pids.max`.
//! - v1 (one hierarchy per controller): `/sys/fs/cgroup/<controller>/strata/<name>` for
//!   memory, pids, cpu, cpuacct, blkio and freezer, with `memory.limit_in_bytes`,
//!   `memory.memsw.limit_in_bytes`, `cpu.cfs_quota_us`/`cpu.cfs_period_us`, `cpu.shares`,
//!   `pids.max`.
//!
//! The process joins before it runs anything: the sandbox's child writes `0` to each
//! `cgroup.procs` ([`Cgroup::procs_files`]) while still running strata's code. Hybrid hosts
//! (v1 controllers plus an empty unified hierarchy) use v1. Where no cgroup can be made, a
//! request with limits fails with a clear error; one without limits runs without a cgroup.

mod stats;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use stats::{read_net_dev, Stats};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent of every strata cgroup, under each hierarchy.
pub const PARENT: &str = "strata";
const V1_CONTROLLERS: [&str; 6] = ["memory", "pids", "cpu", "cpuacct", "blkio", "freezer"];
const CPU_PERIOD: u64 = 100_000;

/// Errors of cgroup operations.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No usable cgroup hierarchy while limits were asked for.
    #[error("cannot apply {what}: {why}")]
    Unavailable {
        /// The limits asked for (`--memory`, ...).
        what: String,
        /// Why cgroups cannot be used here.
        why: String,
    },
    /// The kernel refused a value or a file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cgroup file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A value that cannot be a limit.
    #[error("{0}")]
    Invalid(String),
}

/// Result of cgroup operations.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Limits as docker's flags give them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// `--memory`, bytes.
    pub memory: Option<u64>,
    /// `--memory-swap`: memory plus swap, bytes; -1 unlimited. docker's default with
    /// `--memory` is twice the memory.
    pub memory_swap: Option<i64>,
    /// `--cpu-quota` (microseconds per [`Resources::cpu_period`]); `--cpus` sets both.
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`, microseconds (100000 by default).
    pub cpu_period: Option<u64>,
    /// `--cpu-shares` (relative weight, 1024 = default).
    pub cpu_shares: Option<u64>,
    /// `--pids-limit` (-1 or 0 unlimited).
    pub pids_limit: Option<i64>,
}

impl Resources {
    /// No limit asked for.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The flags that were given, for messages.
    pub fn describe(&self) -> String {
        let mut flags = Vec::new();
        if self.memory.is_some() {
            flags.push("--memory");
        }
        if self.memory_swap.is_some() {
            flags.push("--memory-swap");
        }
        if self.cpu_quota.is_some() || self.cpu_period.is_some() {
            flags.push("--cpus/--cpu-quota");
        }
        if self.cpu_shares.is_some() {
            flags.push("--cpu-shares");
        }
        if self.pids_limit.is_some() {
            flags.push("--pids-limit");
        }
        flags.join(", ")
    }

    /// Sets quota and period from `--cpus` (a decimal number of CPUs), as docker does.
    pub fn set_cpus(&mut self, cpus: &str) -> Result<()> {
        let n: f64 = cpus
            .parse()
            .map_err(|_| CgroupError::Invalid(format!("invalid argument {cpus:?} for --cpus")))?;
        if n.is_nan() || n <= 0.0 || !n.is_finite() {
            return Err(CgroupError::Invalid(format!(
                "invalid argument {cpus:?} for --cpus: must be a positive number"
            )));
        }
        self.cpu_period = Some(CPU_PERIOD);
        self.cpu_quota = Some((n * CPU_PERIOD as f64).round() as i64);
        Ok(())
    }

    /// Checks the values as docker does before anything reaches the kernel.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = self.memory {
            if m < 6 * 1024 * 1024 {
                return Err(CgroupError::Invalid(
                    "Minimum memory limit allowed is 6MB".into(),
                ));
            }
        }
        if let (Some(swap), Some(m)) = (self.memory_swap, self.memory) {
            if swap >= 0 && (swap as u64) < m {
                return Err(CgroupError::Invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
        }
        if self.memory_swap.is_some_and(|s| s >= 0) && self.memory.is_none() {
            return Err(CgroupError::Invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            ));
        }
        Ok(())
    }

    fn swap_total(&self) -> Option<i64> {
        match (self.memory, self.memory_swap) {
            (_, Some(s)) => Some(s),
            (Some(m), None) => Some(2 * m as i64),
            _ => None,
        }
    }
}

/// Parses docker's memory sizes: `32m`, `1g`, `512k`, `1024b`, `100` (bytes).
pub fn parse_bytes(s: &str) -> Result<u64> {
    let bad = || CgroupError::Invalid(format!("invalid size: {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| !r.is_empty()).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n.is_nan() || n < 0.0 || !n.is_finite() {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

/// The cgroup version in use on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// The host's cgroup version: v2 when the unified hierarchy is mounted at the root (and has
/// controllers), v1 when the memory controller has its own hierarchy.
pub fn version() -> Option<Version> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").is_file() {
        Some(Version::V2)
    } else if root.join("memory").join("cgroup.procs").is_file() {
        Some(Version::V1)
    } else {
        None
    }
}

/// One container's cgroup (a directory per v1 hierarchy, one on v2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    version: Version,
    name: String,
    /// (controller, directory); on v2 one entry with controller "".
    dirs: Vec<(String, PathBuf)>,
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let (what, path) = (what.to_string(), path.to_path_buf());
    move |source| CgroupError::Io { what, path, source }
}

fn v1_dirs(name: &str) -> Vec<(String, PathBuf)> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for c in V1_CONTROLLERS {
        let hierarchy = Path::new(ROOT).join(c);
        // cpu and cpuacct may be one hierarchy (`cpu,cpuacct`) reached by two symlinks:
        // both names map to its directory, which is joined and removed once.
        let Ok(real) = fs::canonicalize(&hierarchy) else {
            continue;
        };
        if !real.join("cgroup.procs").is_file() {
            continue;
        }
        if !seen.contains(&real) {
            seen.push(real.clone());
        }
        out.push((c.to_string(), real.join(PARENT).join(name)));
    }
    out
}

impl Cgroup {
    /// The cgroup `name` (under [`PARENT`]) as it would be on this host; nothing is created.
    pub fn at(name: &str) -> Option<Cgroup> {
        let version = version()?;
        let dirs = match version {
            Version::V2 => vec![(String::new(), Path::new(ROOT).join(PARENT).join(name))],
            Version::V1 => v1_dirs(name),
        };
        Some(Cgroup {
            version,
            name: name.to_string(),
            dirs,
        })
    }

    /// Creates cgroup `name` with `limits` applied. Without limits a host without usable
    /// cgroups gives `Ok(None)`; with limits it is an error. A limit the kernel refuses
    /// fails the whole creation and nothing is left.
    pub fn create(name: &str, limits: &Resources) -> Result<Option<Cgroup>> {
        limits.validate()?;
        let unavailable = |why: String| {
            if limits.is_empty() {
                Ok(None)
            } else {
                Err(CgroupError::Unavailable {
                    what: limits.describe(),
                    why,
                })
            }
        };
        let Some(cg) = Cgroup::at(name) else {
            return unavailable(format!("no cgroup hierarchy is mounted at {ROOT}"));
        };
        if let Err(e) = cg.make_dirs() {
            cg.remove();
            return unavailable(e.to_string());
        }
        if let Err(e) = cg.apply(limits) {
            cg.remove();
            return Err(e);
        }
        Ok(Some(cg))
    }

    fn make_dirs(&self) -> Result<()> {
        if self.version == Version::V2 {
            let parent = Path::new(ROOT).join(PARENT);
            fs::create_dir_all(&parent).map_err(io_err("create", &parent))?;
            // Hand the controllers down to the containers' cgroups (ignored where the root
            // does not offer one).
            for c in ["+memory", "+pids", "+cpu", "+io"] {
                for dir in [Path::new(ROOT), parent.as_path()] {
                    let _ = fs::write(dir.join("cgroup.subtree_control"), c);
                }
            }
        }
        for (_, dir) in &self.dirs {
            match fs::create_dir_all(dir) {
                Ok(()) => {}
                Err(e) => return Err(io_err("create", dir)(e)),
            }
        }
        Ok(())
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c == controller || c.is_empty())
            .map(|(_, d)| d.as_path())
    }

    fn write(&self, controller: &str, file: &str, value: &str, flag: &str) -> Result<()> {
        let dir = self
            .dir(controller)
            .ok_or_else(|| CgroupError::Unavailable {
                what: flag.to_string(),
                why: format!("the {controller} cgroup controller is not available"),
            })?;
        let path = dir.join(file);
        fs::write(&path, value).map_err(|source| CgroupError::Io {
            what: format!("the kernel refused {flag}: writing {value} to"),
            path,
            source,
        })
    }

    fn apply(&self, r: &Resources) -> Result<()> {
        match self.version {
            Version::V1 => {
                if let Some(m) = r.memory {
                    self.write(
                        "memory",
                        "memory.limit_in_bytes",
                        &m.to_string(),
                        "--memory",
                    )?;
                    if let Some(total) = r.swap_total() {
                        let memsw = self
                            .dir("memory")
                            .map(|d| d.join("memory.memsw.limit_in_bytes"));
                        // Without swap accounting there is no memsw file; docker ignores the
                        // swap limit then (with a warning), so does strata.
                        if memsw.is_some_and(|p| p.exists()) {
                            self.write(
                                "memory",
                                "memory.memsw.limit_in_bytes",
                                &total.to_string(),
                                "--memory-swap",
                            )?;
                        }
                    }
                }
                if let Some(p) = r.cpu_period {
                    self.write("cpu", "cpu.cfs_period_us", &p.to_string(), "--cpu-period")?;
                }
                if let Some(q) = r.cpu_quota {
                    self.write(
                        "cpu",
                        "cpu.cfs_quota_us",
                        &q.to_string(),
                        "--cpus/--cpu-quota",
                    )?;
                }
                if let Some(s) = r.cpu_shares {
                    self.write("cpu", "cpu.shares", &s.to_string(), "--cpu-shares")?;
                }
                if let Some(p) = r.pids_limit {
                    let v = if p <= 0 {
                        "max".to_string()
                    } else {
                        p.to_string()
                    };
                    self.write("pids", "pids.max", &v, "--pids-limit")?;
                }
            }
            Version::V2 => {
                if let Some(m) = r.memory {
                    self.write("memory", "memory.max", &m.to_string(), "--memory")?;
                    if let Some(total) = r.swap_total() {
                        let swap = if total < 0 {
                            "max".to_string()
                        } else {
                            (total as u64).saturating_sub(m).to_string()
                        };
                        if self
                            .dir("memory")
                            .is_some_and(|d| d.join("memory.swap.max").exists())
                        {
                            self.write("memory", "memory.swap.max", &swap, "--memory-swap")?;
                        }
                    }
                }
                if r.cpu_quota.is_some() || r.cpu_period.is_some() {
                    let period = r.cpu_period.unwrap_or(CPU_PERIOD);
                    let quota = match r.cpu_quota {
                        Some(q) if q > 0 => q.to_string(),
                        _ => "max".to_string(),
                    };
                    self.write(
                        "cpu",
                        "cpu.max",
                        &format!("{quota} {period}"),
                        "--cpus/--cpu-quota",
                    )?;
                }
                if let Some(s) = r.cpu_shares {
                    // runc's conversion of shares [2, 262144] to weight [1, 10000].
                    let s = s.clamp(2, 262_144);
                    let weight = 1 + ((s - 2) * 9999) / 262_142;
                    self.write("cpu", "cpu.weight", &weight.to_string(), "--cpu-shares")?;
                }
                if let Some(p) = r.pids_limit {
                    let v = if p <= 0 {
                        "max".to_string()
                    } else {
                        p.to_string()
                    };
                    self.write("pids", "pids.max", &v, "--pids-limit")?;
                }
            }
        }
        Ok(())
    }

    /// The cgroup's name under [`PARENT`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// How long ago the cgroup was made (its directory's modification time).
    pub fn age(&self) -> Option<std::time::Duration> {
        let (_, dir) = self.dirs.first()?;
        fs::metadata(dir).ok()?.modified().ok()?.elapsed().ok()
    }

    /// Whether the cgroup exists.
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|(_, d)| d.is_dir())
    }

    /// The `cgroup.procs` files a process writes `0` to, to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for (_, d) in &self.dirs {
            let p = d.join("cgroup.procs");
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: u32) -> Result<()> {
        for path in self.procs_files() {
            fs::write(&path, pid.to_string()).map_err(io_err("join", &path))?;
        }
        Ok(())
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for path in self.procs_files() {
            for line in fs::read_to_string(&path).unwrap_or_default().lines() {
                if let Ok(p) = line.trim().parse() {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// Whether the OOM killer killed a process of the cgroup: `oom_kill` of
    /// `memory.events` (v2) or `memory.oom_control` (v1).
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        let Some(dir) = self.dir("memory") else {
            return false;
        };
        fs::read_to_string(dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .any(|(k, v)| k == "oom_kill" && v.trim().parse::<u64>().unwrap_or(0) > 0)
    }

    /// Removes the cgroup (its processes must have exited; a few retries while the kernel
    /// finishes reaping them). Missing directories are fine.
    pub fn remove(&self) -> bool {
        let mut all = true;
        for (_, dir) in &self.dirs {
            let mut ok = false;
            for _ in 0..50 {
                match fs::remove_dir(dir) {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        ok = true;
                        break;
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            all &= ok;
        }
        all
    }
}

/// The names of the strata cgroups on this host (for `system check`).
pub fn list() -> Vec<String> {
    let Some(v) = version() else {
        return Vec::new();
    };
    let parents: Vec<PathBuf> = match v {
        Version::V2 => vec![Path::new(ROOT).join(PARENT)],
        Version::V1 => v1_dirs("")
            .into_iter()
            .map(|(_, d)| d.parent().map(Path::to_path_buf).unwrap_or(d))
            .fold(Vec::new(), |mut v, d| {
                if !v.contains(&d) {
                    v.push(d);
                }
                v
            }),
    };
    let mut names = Vec::new();
    for p in parents {
        for e in fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let n = e.file_name().to_string_lossy().into_owned();
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("32m").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("32MB").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("100b").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1m").is_err());
    }

    #[test]
    fn cpus_and_validation() {
        let mut r = Resources::default();
        assert!(r.is_empty());
        r.set_cpus("1.5").unwrap();
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(150_000), Some(100_000)));
        assert!(r.set_cpus("0").is_err());
        assert!(r.set_cpus("x").is_err());
        let small = Resources {
            memory: Some(1 << 20),
            ..Default::default()
        };
        assert_eq!(
            small.validate().unwrap_err().to_string(),
            "Minimum memory limit allowed is 6MB"
        );
        let swap_below = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        };
        assert!(swap_below.validate().is_err());
        assert_eq!(
            Resources {
                memory: Some(64 << 20),
                ..Default::default()
            }
            .swap_total(),
            Some(128 << 20)
        );
    }
}
