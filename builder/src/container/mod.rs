//! Containers: a writable overlay on an image's layers, and a process running on it.
//!
//! The store keeps each container's record ([`strata_cache::ContainerRecord`]: ID, name,
//! image — a GC root — and two opaque JSON values); this module gives those values their
//! meaning ([`ContainerConfig`], [`ContainerState`]) and runs containers in the
//! [`crate::sandbox`].
//!
//! # The API other code builds on (`commit`, `diff`, `export`)
//!
//! ```no_run
//! # fn main() -> Result<(), strata_builder::container::ContainerError> {
//! use strata_builder::container::ContainerStore;
//! let store = strata_cache::Store::open("/var/lib/strata")?;
//! let containers = ContainerStore::new(store.clone());
//! let c = containers.find("brave_turing")?;   // full ID, name, or unique ID prefix
//! let image_id = c.image_id();                // the image's config digest
//! let manifest = c.record.image.digest;       // the image's manifest digest
//! let upper = c.upper_dir(&store);            // the container's changes (overlay upper dir)
//! let lowers = c.lowers(&store)?;             // the image's snapshots, bottom first
//! let layers = c.layers(&store)?;             // the image's layers (blob + diffID)
//! let running = c.is_running();               // state (reconciled with the monitor)
//! # Ok(()) }
//! ```
//!
//! - [`ContainerStore::find`]: lookup by full ID, name (`name` or `/name`), or unique ID
//!   prefix; errors are docker's (`No such container: X`, `multiple IDs found with provided
//!   prefix: X`).
//! - [`Container::upper_dir`] is the overlay upper dir: what the container changed, with
//!   overlay whiteouts (char 0:0) and opaque dirs (`trusted.overlay.opaque=y`), exactly as a
//!   RUN step's. While the container runs the upper dir changes under the reader; pause it
//!   first ([`pause`]) for a consistent view. Mount-point stubs the sandbox created
//!   (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, volume targets) are removed from the
//!   upper dir when the process ends.
//! - [`Container::lowers`] are the image's layer snapshots (created at `create`; recreated if
//!   missing), [`Container::layers`] the image's layers from its manifest and config.
//! - A [`strata_cache::Lease`] held while reading keeps GC away from blobs one writes.
//!
//! # Layout of a container's directory (`Store::container_dir`)
//!
//! ```text
//! upper/  work/          the overlay upper and work dirs (reserved at create)
//! run/                   the sandbox's per-run directory (rootfs mount point, hosts...)
//! container.log          json-file log lines: {"log":"...","stream":"stdout","time":"..."}
//! monitor.lock           held (flock) by the process supervising the container
//! monitor.pid            that process's pid
//! monitor.sock           attach socket of the monitor
//! ```
//!
//! Operations, one file each: [`create`](create::create), [`start`] (launches the
//! [`monitor`], which writes [`logs`] and serves [`attach`] over [`protocol`]), [`stop`]
//! (stop, kill, restart), [`exec`], [`ps`], [`inspect`], [`top`], [`pause`], [`remove`]
//! (rm, prune).

pub mod attach;
pub mod commit;
pub mod create;
pub mod diff;
pub mod exec;
pub mod export;
pub mod inspect;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod network;
pub mod pause;
pub mod protocol;
pub mod ps;
pub mod remove;
pub mod start;
pub mod stop;
pub mod top;

use crate::solver::rootfs::{self, LayerRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use strata_cache::{ContainerId, ContainerRecord, Digest, Store};

pub use create::{create, CreateOptions};

/// The liveness lock of the process supervising a container (in its directory).
pub const MONITOR_LOCK: &str = "monitor.lock";

/// Errors of container operations.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The store failed (includes `No such container`, name clashes, ambiguous prefixes).
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// The image could not be used.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// The image's layers could not be prepared.
    #[error(transparent)]
    Solve(#[from] crate::solver::SolveError),
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The operation does not fit the container's state or the request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The process could not be started (docker's 126/127 for a command that cannot be
    /// executed).
    #[error("{message}")]
    StartFailed {
        /// Why.
        message: String,
        /// The exit code recorded.
        code: i32,
    },
    /// A file or socket operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl ContainerError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
        let what = what.into();
        move |e| ContainerError::Io(what, e)
    }
}

/// Result of container operations.
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// A `-v HOST:CONTAINER[:ro]` bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Absolute host path.
    pub source: PathBuf,
    /// Absolute path in the container.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
}

impl Volume {
    /// Parses `HOST:CONTAINER[:ro|:rw]`; the host path must be absolute and exist.
    pub fn parse(spec: &str) -> Result<Volume> {
        let bad = |why: &str| ContainerError::Invalid(format!("invalid volume {spec:?}: {why}"));
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, destination, readonly) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            [_, _, m] => return Err(bad(&format!("unknown mode {m:?} (ro or rw)"))),
            _ => return Err(bad("expected HOST:CONTAINER[:ro]")),
        };
        if !source.starts_with('/') {
            return Err(bad(
                "the host path must be absolute (named volumes are not supported)",
            ));
        }
        if !destination.starts_with('/') || destination == "/" {
            return Err(bad("the container path must be absolute and not /"));
        }
        let source =
            std::fs::canonicalize(source).map_err(|e| bad(&format!("host path {source}: {e}")))?;
        Ok(Volume {
            source,
            destination: destination.to_string(),
            readonly,
        })
    }
}

/// `--network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Own network namespace with loopback only.
    #[default]
    None,
    /// The host's network.
    Host,
    /// Own network namespace with an interface on each bridge network the container is
    /// connected to (the endpoints of [`strata_cache::network`]), wired by [`crate::net`].
    Bridge,
}

/// `--restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: unlimited).
    OnFailure {
        /// Limit of restarts, 0 for none.
        max_retries: u32,
    },
    /// Always restart, unless stopped by the user.
    Always,
}

impl RestartPolicy {
    /// Parses `no`, `on-failure[:N]`, `always` (and `unless-stopped`, same as `always` here:
    /// there is no daemon restart).
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        match s.split_once(':') {
            None if s == "no" || s.is_empty() => Ok(RestartPolicy::No),
            None if s == "always" || s == "unless-stopped" => Ok(RestartPolicy::Always),
            None if s == "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: 0 }),
            Some(("on-failure", n)) => n
                .parse()
                .map(|max_retries| RestartPolicy::OnFailure { max_retries })
                .map_err(|_| ContainerError::Invalid(format!("invalid restart policy {s:?}"))),
            _ => Err(ContainerError::Invalid(format!(
                "invalid restart policy {s:?}: no, on-failure[:N] or always"
            ))),
        }
    }

    /// Docker's name.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
        }
    }
}

/// What a container runs and how: fixed at create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfig {
    /// The resolved entrypoint (image's unless `--entrypoint`).
    pub entrypoint: Vec<String>,
    /// The resolved command (image's CMD unless given).
    pub cmd: Vec<String>,
    /// `KEY=value`: the image's env, then `-e`/`--env-file`.
    pub env: Vec<String>,
    /// Working directory ("" = /).
    pub workdir: String,
    /// `USER` spec ("" = root).
    pub user: String,
    /// Hostname (default: the short ID).
    pub hostname: String,
    /// `-v` bind mounts.
    pub volumes: Vec<Volume>,
    /// `--network`.
    pub network: Network,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `-t`: a pty for the process.
    pub tty: bool,
    /// `-i`: keep stdin open.
    pub open_stdin: bool,
    /// `--rm`: remove when the process exits.
    pub auto_remove: bool,
    /// The image's STOPSIGNAL (empty: SIGTERM).
    pub stop_signal: String,
    /// The image's labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--network` as given (`bridge` by default): docker's `HostConfig.NetworkMode`.
    #[serde(default)]
    pub network_mode: String,
    /// `-p` published ports, served by the monitor's proxy.
    #[serde(default)]
    pub publish: Vec<crate::net::proxy::PortMapping>,
    /// `--dns` servers (the host's resolv.conf when empty).
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--add-host NAME:IP` entries for /etc/hosts.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--memory`, `--cpus`, `--pids-limit`, ...: the container's cgroup limits.
    #[serde(default)]
    pub resources: crate::cgroup::Resources,
    /// `--ulimit`.
    #[serde(default)]
    pub ulimits: Vec<crate::sandbox::Ulimit>,
}

impl ContainerConfig {
    /// Entrypoint then cmd: the process's argv.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

/// docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    #[default]
    Created,
    /// The process runs.
    Running,
    /// Frozen.
    Paused,
    /// Between a restart-policy exit and the next start.
    Restarting,
    /// The process ended.
    Exited,
}

impl Status {
    /// docker's word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

/// The runtime state, updated by the monitor and by `stop`/`kill`/`pause`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Where the container is.
    pub status: Status,
    /// Host pid of the container's process (PID 1 of its namespace) while it runs.
    pub pid: i32,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// Why the last start failed.
    #[serde(default)]
    pub error: String,
    /// When the last run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Killed by the OOM killer (never set: strata sets no memory limit).
    pub oom_killed: bool,
    /// Restarts done by the restart policy.
    pub restart_count: u32,
    /// `stop`/`kill` asked for the end: the restart policy does not apply.
    pub stopped_by_user: bool,
    /// Pid of the monitor process while it runs.
    pub monitor_pid: i32,
}

/// A container: the store's record with its config and state decoded.
#[derive(Debug, Clone)]
pub struct Container {
    /// The record as stored.
    pub record: ContainerRecord,
    /// Decoded `record.config`.
    pub config: ContainerConfig,
    /// Decoded `record.state`.
    pub state: ContainerState,
}

impl Container {
    fn from_record(record: ContainerRecord) -> Result<Container> {
        let bad = |e: serde_json::Error| {
            ContainerError::Invalid(format!("container {}: bad record: {e}", record.id))
        };
        let config = serde_json::from_value(record.config.clone()).map_err(bad)?;
        let state = serde_json::from_value(record.state.clone()).map_err(bad)?;
        Ok(Container {
            record,
            config,
            state,
        })
    }

    /// The ID.
    pub fn id(&self) -> &ContainerId {
        &self.record.id
    }

    /// The name, without docker's `/`.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The image ID (config digest).
    pub fn image_id(&self) -> &Digest {
        &self.record.image_id
    }

    /// Running or paused (as reconciled by [`ContainerStore`]).
    pub fn is_running(&self) -> bool {
        matches!(
            self.state.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }

    /// The container's directory.
    pub fn dir(&self, store: &Store) -> PathBuf {
        store.container_dir(self.id())
    }

    /// The overlay upper dir: the container's changes.
    pub fn upper_dir(&self, store: &Store) -> PathBuf {
        self.dir(store).join("upper")
    }

    /// The overlay work dir.
    pub fn work_dir(&self, store: &Store) -> PathBuf {
        self.dir(store).join("work")
    }

    /// The json-file log.
    pub fn log_path(&self, store: &Store) -> PathBuf {
        self.dir(store).join("container.log")
    }

    /// The image's layers, bottom first, from its manifest and config.
    pub fn layers(&self, store: &Store) -> Result<Vec<LayerRef>> {
        let manifest = store.manifest(&self.record.image.digest)?;
        let config = store.config(&manifest)?;
        if manifest.layers.len() != config.rootfs.diff_ids.len() {
            return Err(ContainerError::Invalid(format!(
                "image {} lists {} layers and {} diffIDs",
                self.record.image_id,
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        Ok(manifest
            .layers
            .into_iter()
            .zip(config.rootfs.diff_ids)
            .map(|(descriptor, diff_id)| LayerRef {
                descriptor,
                diff_id,
            })
            .collect())
    }

    /// The image's layer snapshots (overlay lower dirs), bottom first; unpacked again if GC
    /// or a repair removed one. Hold a lease while using them.
    pub fn lowers(&self, store: &Store) -> Result<Vec<PathBuf>> {
        Ok(rootfs::snapshots(store, &self.layers(store)?)?)
    }
}

/// The store's containers, with their state reconciled: a container recorded as running
/// whose monitor died (killed, machine rebooted) shows as exited.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    store: Store,
}

impl ContainerStore {
    /// Containers of `store`.
    pub fn new(store: Store) -> ContainerStore {
        ContainerStore { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Finds a container by full ID, name or unique ID prefix.
    pub fn find(&self, query: &str) -> Result<Container> {
        let record = self.store.find_container(query)?;
        self.reconcile(Container::from_record(record)?)
    }

    /// The container `id`.
    pub fn get(&self, id: &ContainerId) -> Result<Container> {
        self.reconcile(Container::from_record(self.store.container(id)?)?)
    }

    /// Every container, newest first (as `ps` lists them).
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for record in self.store.containers()?.into_iter().rev() {
            match Container::from_record(record).and_then(|c| self.reconcile(c)) {
                Ok(c) => out.push(c),
                Err(ContainerError::Store(e)) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Rewrites the state of `id` under its lock.
    pub fn update_state<T>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut ContainerState) -> Result<T>,
    ) -> Result<T> {
        self.store.update_container(id, |record| {
            let mut state: ContainerState = serde_json::from_value(record.state.clone())
                .map_err(|e| ContainerError::Invalid(format!("container {id}: bad state: {e}")))?;
            let out = f(&mut state)?;
            record.state = serde_json::to_value(&state)
                .map_err(|e| ContainerError::Invalid(format!("container {id}: {e}")))?;
            Ok(out)
        })
    }

    /// Whether a monitor (or a foreground `start`) supervises `id` now.
    pub fn monitor_alive(&self, id: &ContainerId) -> Result<bool> {
        Ok(self
            .store
            .try_container_flock(id, MONITOR_LOCK, false)?
            .is_none())
    }

    /// A container recorded as running without a live monitor ended without its monitor
    /// seeing it: it is recorded as exited (137, killed) now.
    fn reconcile(&self, c: Container) -> Result<Container> {
        if !c.is_running() || self.monitor_alive(c.id())? {
            return Ok(c);
        }
        let id = *c.id();
        let monitor = self.clone();
        self.update_state(&id, |state| {
            // Re-checked under the lock: a monitor may have finished the update meanwhile.
            if matches!(
                state.status,
                Status::Running | Status::Paused | Status::Restarting
            ) && !monitor.monitor_alive(&id)?
            {
                state.status = Status::Exited;
                state.exit_code = 137;
                state.pid = 0;
                state.monitor_pid = 0;
                state.finished_at = Some(Utc::now());
                state.error = "the container's monitor died".into();
            }
            Ok(())
        })?;
        pause::thaw_and_remove_cgroup(&id);
        Container::from_record(self.store.container(&id)?)
    }
}
