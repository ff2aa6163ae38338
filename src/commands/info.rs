//! `strata info` / `strata system info [--format json|TEMPLATE]`: docker's system-wide
//! summary for a daemonless tool: the store (root, size, storage driver), images and
//! containers, cgroups, kernel and OS, CPUs and memory, runtimes, and the registries that
//! have stored credentials (their names only, never the credentials).

use super::version::{runtimes, DEFAULT_RUNTIME};
use crate::cli::Global;
use crate::output::human_size;
use crate::template::Template;
use clap::Args;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;
use strata_builder::container::{ContainerStore, Status};
use strata_registry::AuthFile;

/// Arguments of `strata info` and `strata system info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// `json`, or a Go-like template over the JSON fields ({{.Images}}, {{.Driver}},
    /// {{.CgroupVersion}}, {{.NCPU}}, {{.MemTotal}}, {{json .RegistriesWithCredentials}})
    #[arg(short, long, value_name = "FORMAT")]
    format: Option<String>,
    /// Credentials file whose registries are listed [default: as `login`]
    #[arg(long, value_name = "FILE")]
    authfile: Option<std::path::PathBuf>,
}

/// statfs magic numbers of the file systems a store is commonly on (linux/magic.h).
fn filesystem_name(magic: i64) -> String {
    match magic {
        0xEF53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        0x6969 => "nfs".into(),
        0x6573_5546 => "fuse".into(),
        other => format!("0x{other:x}"),
    }
}

/// The storage driver strata can use for a store on `root`: `overlay` when the kernel has
/// overlayfs (listed in /proc/filesystems or loadable as a module) and the store is not
/// itself on overlayfs (an overlay's upper dir cannot be on one), `copy` otherwise.
fn storage_driver(root: &Path) -> (String, String) {
    let backing = rustix::fs::statfs(root)
        .map(|s| filesystem_name(s.f_type))
        .unwrap_or_else(|_| "unknown".into());
    let listed = std::fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false);
    let module = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| {
            let dir = Path::new("/lib/modules")
                .join(r.trim())
                .join("kernel/fs/overlayfs");
            dir.is_dir()
        })
        .unwrap_or(false);
    let driver = if (listed || module) && backing != "overlayfs" {
        "overlay"
    } else {
        "copy"
    };
    (driver.into(), backing)
}

/// Bytes on disk under `dir` (allocated blocks; hard links counted once; symlinks not
/// followed), like `du -s`.
pub fn disk_bytes(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// docker's `units.BytesSize`: binary units, four significant digits ("23.47GiB").
fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    // Go's %.4g: four significant digits.
    let digits = match size {
        s if s < 10.0 => 3,
        s if s < 100.0 => 2,
        s if s < 1000.0 => 1,
        _ => 0,
    };
    let text = format!("{size:.digits$}");
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{trimmed}{}", UNITS[unit])
}

/// cgroup v2 when /sys/fs/cgroup is the unified hierarchy (cgroup2 file system).
fn cgroup_version() -> &'static str {
    match rustix::fs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.f_type == 0x6367_7270 => "2",
        Ok(_) => "1",
        Err(_) => "",
    }
}

fn os_release() -> String {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn proc_text(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .unwrap_or_default()
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The JSON document (docker's field names where docker has the field).
fn info_json(global: &Global, args: &InfoArgs) -> anyhow::Result<Value> {
    let store = super::open_store(global)?;
    let root = store.root().to_path_buf();
    let images = store.images()?.len();
    // docker's counting: a restarting container is running, created and exited ones stopped.
    let (mut running, mut paused, mut stopped) = (0u64, 0u64, 0u64);
    for c in ContainerStore::new(store.clone()).list()? {
        match c.state.status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            Status::Created | Status::Exited => stopped += 1,
        }
    }
    let (driver, backing) = storage_driver(&root);
    let auth_path = strata_registry::credentials::auth_file_path(args.authfile.as_deref());
    let registries = AuthFile::load(auth_path)
        .map(|f| f.registries())
        .unwrap_or_default();
    let rts: serde_json::Map<String, Value> = runtimes()
        .into_iter()
        .map(|r| {
            let path = r
                .path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(built in)".into());
            (r.name, json!({"path": path, "version": r.version}))
        })
        .collect();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let platform = strata_builder::image::host_platform();
    Ok(json!({
        "Containers": running + paused + stopped,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": driver,
        "DriverStatus": [["Backing Filesystem", backing]],
        "StoreRoot": root.display().to_string(),
        "StoreSize": disk_bytes(&root),
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "Runtimes": rts,
        "DefaultRuntime": DEFAULT_RUNTIME,
        "KernelVersion": proc_text("/proc/sys/kernel/osrelease"),
        "OperatingSystem": os_release(),
        "OSType": platform.os,
        "Architecture": std::env::consts::ARCH,
        "NCPU": cpus,
        "MemTotal": mem_total(),
        "Name": proc_text("/proc/sys/kernel/hostname"),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "RegistriesWithCredentials": registries,
    }))
}

pub fn run(global: &Global, args: InfoArgs) -> anyhow::Result<ExitCode> {
    let doc = info_json(global, &args)?;
    match args.format.as_deref() {
        Some("json") => {
            println!("{}", serde_json::to_string(&doc)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(t) => {
            println!("{}", Template::parse(t)?.render(&doc)?);
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let s = |k: &str| match &doc[k] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let n = |k: &str| doc[k].as_u64().unwrap_or(0);
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", n("Containers"));
    println!("  Running: {}", n("ContainersRunning"));
    println!("  Paused: {}", n("ContainersPaused"));
    println!("  Stopped: {}", n("ContainersStopped"));
    println!(" Images: {}", n("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    println!(
        "  Backing Filesystem: {}",
        doc["DriverStatus"][0][1].as_str().unwrap_or("")
    );
    println!(" Store Root: {}", s("StoreRoot"));
    println!(" Store Size: {}", human_size(n("StoreSize")));
    println!(" Cgroup Driver: {}", s("CgroupDriver"));
    println!(" Cgroup Version: {}", s("CgroupVersion"));
    let names: Vec<&String> = doc["Runtimes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    println!(
        " Runtimes: {}",
        names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(" Default Runtime: {}", s("DefaultRuntime"));
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: {}", s("OSType"));
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", n("NCPU"));
    println!(" Total Memory: {}", bytes_size(n("MemTotal")));
    println!(" Name: {}", s("Name"));
    let regs: Vec<String> = doc["RegistriesWithCredentials"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if regs.is_empty() {
        println!(" Registries With Credentials: none");
    } else {
        println!(" Registries With Credentials:");
        for r in regs {
            println!("  {r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::bytes_size;

    #[test]
    fn binary_sizes_like_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(25_199_632_384), "23.47GiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(123 * 1024 * 1024 + 400 * 1024), "123.4MiB");
    }
}
