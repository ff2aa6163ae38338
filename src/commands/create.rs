//! `strata create [OPTIONS] IMAGE [COMMAND] [ARG...]`: a container, not started. Its
//! arguments ([`CreateArgs`]) are shared with `run` (and the `container` aliases).

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::container::{create, CreateOptions};

/// The container options of `create` and `run`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take it from this environment)
    #[arg(short = 'e', long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro]); `-v` works too
    #[arg(long = "volume", value_name = "LIST")]
    pub volume: Vec<String>,
    /// Connect a container to a network: bridge (default), a network's name, host or none
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "LIST")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Publish a container's port to the host ([IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]; IP 127.0.0.1 by default)
    #[arg(short = 'p', long = "publish", value_name = "LIST")]
    pub publish: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "LIST")]
    pub add_host: Vec<String>,
    /// Memory limit (e.g. 32m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Restart policy to apply when a container exits: no, on-failure[:N], always
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The image
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

impl CreateArgs {
    /// The library's options (`auto_remove` from `run --rm`).
    pub fn options(&self, auto_remove: bool) -> anyhow::Result<CreateOptions> {
        Ok(CreateOptions {
            image: self.image.clone(),
            name: self.name.clone(),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env: self.env.clone(),
            env_files: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            volumes: self.volume.clone(),
            network: self.network.clone(),
            hostname: self.hostname.clone(),
            restart: self.restart.clone(),
            tty: self.tty,
            open_stdin: self.interactive,
            auto_remove,
            network_aliases: self.network_alias.clone(),
            ip: self.ip.clone(),
            publish: self.publish.clone(),
            dns: self.dns.clone(),
            add_hosts: self.add_host.clone(),
            resources: super::resources::parse(
                self.memory.as_deref(),
                self.memory_swap.as_deref(),
                self.cpus.as_deref(),
                self.cpu_quota,
                self.cpu_period,
                self.cpu_shares,
                self.pids_limit,
            )?,
            ulimits: self.ulimit.clone(),
        })
    }
}

pub fn run(global: &Global, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let c = create(&store, &args.options(false)?)?;
    println!("{}", c.id());
    Ok(ExitCode::SUCCESS)
}

/// docker's `-v` is taken by the global `--verbose`: before parsing, `-v X` / `-vX` among
/// the options of `create` and `run` (up to the image) become `--volume X`.
pub fn rewrite_volume_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const LONG_WITH_VALUE: [&str; 26] = [
        "--pids-limit",
        "--ulimit",
        "--network-alias",
        "--net-alias",
        "--ip",
        "--publish",
        "--dns",
        "--add-host",
        "--memory",
        "--memory-swap",
        "--cpus",
        "--cpu-quota",
        "--cpu-period",
        "--cpu-shares",
        "--name",
        "--env",
        "--env-file",
        "--workdir",
        "--user",
        "--entrypoint",
        "--volume",
        "--network",
        "--net",
        "--hostname",
        "--restart",
        "--root",
    ];
    const GLOBAL_WITH_VALUE: [&str; 3] = ["--root", "--log-level", "--progress"];
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(first) = iter.next() {
        out.push(first);
    }
    // Find the command (skipping global options), and `container` before it.
    let mut in_create = false;
    let mut expect_value = false;
    let mut rest: Vec<std::ffi::OsString> = iter.collect();
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].to_string_lossy().into_owned();
        if expect_value {
            expect_value = false;
        } else if GLOBAL_WITH_VALUE.contains(&a.as_str()) {
            expect_value = true;
        } else if !a.starts_with('-') {
            if a == "container" {
                i += 1;
                continue;
            }
            in_create = a == "create" || a == "run";
            i += 1;
            break;
        }
        i += 1;
    }
    if in_create {
        let mut j = i;
        while j < rest.len() {
            let a = rest[j].to_string_lossy().into_owned();
            if a == "--" {
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                if !long.contains('=') && LONG_WITH_VALUE.contains(&a.as_str()) {
                    j += 1;
                }
            } else if a == "-v" {
                rest[j] = "--volume".into();
                j += 1;
            } else if let Some(v) = a.strip_prefix("-v") {
                rest[j] = format!("--volume={v}").into();
            } else if a.starts_with('-') && a.len() > 1 {
                // A cluster ending in an option that takes a value takes the next word.
                if a.len() == 2 && "ewupmc".contains(&a[1..]) {
                    j += 1;
                }
            } else {
                break;
            }
            j += 1;
        }
    }
    out.append(&mut rest);
    out
}

#[cfg(test)]
mod tests {
    use super::rewrite_volume_flags;

    fn rw(args: &[&str]) -> Vec<String> {
        rewrite_volume_flags(args.iter().map(|a| a.into()).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_run_and_create_options_are_rewritten() {
        assert_eq!(
            rw(&["strata", "--root", "r", "run", "-v", "/a:/b", "-e", "-v", "img", "ls", "-v"]),
            ["strata", "--root", "r", "run", "--volume", "/a:/b", "-e", "-v", "img", "ls", "-v"]
        );
        assert_eq!(
            rw(&["strata", "container", "create", "-v/a:/b:ro", "img"]),
            ["strata", "container", "create", "--volume=/a:/b:ro", "img"]
        );
        assert_eq!(
            rw(&["strata", "system", "df", "-v"]),
            ["strata", "system", "df", "-v"]
        );
        assert_eq!(rw(&["strata", "-v", "images"]), ["strata", "-v", "images"]);
    }
}
