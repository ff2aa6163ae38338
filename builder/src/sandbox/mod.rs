//! Runs one RUN step's process in an isolated root filesystem.
//!
//! The caller (the solver) hands a [`RunSpec`]: the snapshot directories to
//! stack as overlay lower dirs, a fresh upper and work dir, the resolved
//! process, the network mode, extra mounts and the `/etc/hosts` and
//! `/etc/resolv.conf` contents. [`Sandbox::run`] turns it into an OCI runtime
//! config ([`oci_spec::runtime::Spec`], see [`spec::build`]) with docker's
//! defaults (capabilities, masked and read-only paths, a minimal `/dev`) and
//! runs it, either with the embedded runtime (own namespaces, no external
//! program needed) or an external OCI runtime (`runc`, `crun`, a path).
//! Either way the step's changes are left in the upper dir only, without the
//! mount-point stubs that the sandbox itself had to create.
//!
//! For containers, [`Sandbox::start`] runs a long-lived process with the
//! caller's standard streams (a pty or pipes) and [`Sandbox::exec`] starts
//! another one inside a running container's namespaces.
//!
//! The sandbox knows nothing of caching or layers. See README.md beside this
//! file for the measurements behind the choice of the default runtime.

mod child;
mod container;
mod embedded;
mod error;
mod external;
mod io;
mod plan;
mod rundir;
mod spawn;
pub mod spec;
mod stubs;
pub mod syscalls;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use container::{exec_plan, open_pty, ContainerStdio, Started};
pub use error::{Result, SandboxError};
pub use io::StepIo;
pub use plan::{Op, Plan};
pub use stubs::Stub;

/// Everything one RUN step needs, as resolved by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Already-extracted layer snapshot directories, bottom first. May be
    /// empty (FROM scratch); they are never written to.
    pub lowers: Vec<PathBuf>,
    /// The overlay upper dir, created by the caller: the step's changes land
    /// here and nowhere else.
    pub upper: PathBuf,
    /// The overlay work dir, created by the caller on the upper dir's file system.
    pub work: PathBuf,
    /// The process to run.
    pub process: Process,
    /// The network the process sees.
    pub network: NetworkMode,
    /// Extra mounts, applied in order after the standard ones.
    pub mounts: Vec<Mount>,
    /// The hostname inside the sandbox (own UTS namespace).
    pub hostname: String,
    /// Content of `/etc/hosts`, bind-mounted and never committed.
    pub hosts: String,
    /// Content of `/etc/resolv.conf`, bind-mounted and never committed.
    pub resolv_conf: String,
    /// Resource limits (`--ulimit`; `--memory`, `--cpus`, ... for RUN steps).
    pub limits: Limits,
}

/// Limits of a step or container process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// cgroup limits. [`Sandbox::run`] puts the step in a cgroup of its own with them
    /// (removed after the step); for [`Sandbox::start`] the caller makes the container's
    /// cgroup (it outlives the start) and hands its `cgroup.procs` files in
    /// [`ContainerStdio::cgroup_procs`], so these are ignored there.
    pub resources: crate::cgroup::Resources,
    /// `--ulimit` values, set with `setrlimit` before the process runs.
    pub ulimits: Vec<Ulimit>,
}

/// One `--ulimit NAME=SOFT[:HARD]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ulimit {
    /// docker's name: `nofile`, `nproc`, `core`, `stack`, ...
    pub name: String,
    /// Soft limit (-1: unlimited).
    pub soft: i64,
    /// Hard limit (-1: unlimited).
    pub hard: i64,
}

impl Ulimit {
    /// Parses `NAME=SOFT[:HARD]` as docker does.
    pub fn parse(s: &str) -> Result<Ulimit> {
        let bad =
            |why: &str| SandboxError::InvalidSpec(format!("invalid ulimit argument: {s}: {why}"));
        let (name, values) = s
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
        if spec::rlimit_type(name).is_none() {
            return Err(bad(&format!("invalid ulimit type: {name}")));
        }
        let num = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| bad(&format!("invalid value {v:?}")))
        };
        let (soft, hard) = match values.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(values)?, num(values)?),
        };
        if soft != -1 && hard != -1 && soft > hard {
            return Err(bad(&format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

/// The step's process, resolved by the caller (USER, WORKDIR, ENV, SHELL applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// `args[0]` is looked up in the sandbox's `PATH` (from `env`) unless it has a `/`.
    pub args: Vec<String>,
    /// `NAME=value` entries, the complete environment.
    pub env: Vec<String>,
    /// Absolute working directory inside the sandbox; created if missing, as BuildKit does.
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
}

/// The network of a RUN step (`RUN --network=`) or a container.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new network namespace with only the loopback interface, up.
    None,
    /// The host's network namespace.
    Host,
    /// A build's default network. The solver turns it into a [`NetworkMode::Join`] of the
    /// build's bridged namespace (BuildKit's default: outbound traffic) before a step runs;
    /// a sandbox given it as is makes it loopback only, as [`NetworkMode::None`].
    #[default]
    Default,
    /// An existing network namespace, joined with `setns` (a container's, prepared with
    /// its interfaces by [`crate::net`]); the path opens it (`/proc/PID/fd/N`).
    Join(PathBuf),
}

impl NetworkMode {
    /// Whether the step gets a network namespace other than the caller's.
    pub fn isolated(&self) -> bool {
        !matches!(self, NetworkMode::Host)
    }
}

/// An extra mount of a step (`RUN --mount=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the sandbox; created if missing and removed
    /// again from the upper dir when the sandbox created it.
    pub destination: String,
    /// What is mounted there.
    pub kind: MountKind,
}

/// The kinds of extra mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A host file or directory bind-mounted (recursively). Cache mounts are
    /// read-write binds of the cache directory the caller prepared; secrets
    /// are read-only binds of a file.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Size limit in bytes; the kernel's default (half the RAM) when `None`.
        size: Option<u64>,
    },
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process exited with this code.
    Code(i32),
    /// The process was killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// The exit code, shell-style for signals (128 + signal).
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Which OCI runtime executes the config.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Runtime {
    /// strata's own namespace implementation: nothing to install.
    #[default]
    Embedded,
    /// An external OCI runtime (runc's command line: `run --bundle DIR ID`,
    /// `kill`, `delete`), by path.
    External(PathBuf),
}

impl Runtime {
    /// Parses `--runtime`: `embedded`, `runc`, `crun` or a path. A bare name is
    /// looked up in `PATH`.
    pub fn from_arg(arg: &str) -> Result<Runtime> {
        if arg == "embedded" || arg.is_empty() {
            return Ok(Runtime::Embedded);
        }
        if arg.contains('/') {
            return Ok(Runtime::External(PathBuf::from(arg)));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(arg))
            .find(|candidate| candidate.is_file())
            .map(Runtime::External)
            .ok_or_else(|| SandboxError::Runtime {
                runtime: PathBuf::from(arg),
                message: "not found in PATH".into(),
            })
    }
}

/// Kills a running step from another thread (Ctrl-C, a failed sibling step).
///
/// Cancelling before the step started makes [`Sandbox::run_cancellable`]
/// return [`SandboxError::Cancelled`] without starting it.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    inner: Arc<Mutex<CancelState>>,
}

#[derive(Debug, Default)]
struct CancelState {
    cancelled: bool,
    killer: Option<Arc<dyn Kill>>,
}

/// Something that can kill a started step.
trait Kill: Send + Sync + std::fmt::Debug {
    fn kill(&self);
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Kills the step (SIGKILL to its whole PID namespace), now or as soon as it starts.
    pub fn cancel(&self) {
        let killer = {
            let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            state.cancelled = true;
            state.killer.clone()
        };
        if let Some(k) = killer {
            k.kill();
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled
    }

    /// Registers the started step's killer; false (and nothing registered)
    /// if the token was already cancelled.
    fn arm(&self, killer: Arc<dyn Kill>) -> bool {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if state.cancelled {
            return false;
        }
        state.killer = Some(killer);
        true
    }

    fn disarm(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).killer = None;
    }
}

/// Runs steps. Cheap to clone and share between threads; each run is independent.
#[derive(Clone, Debug)]
pub struct Sandbox {
    runtime: Runtime,
    state_dir: PathBuf,
}

impl Sandbox {
    /// A sandbox using `runtime`, with per-run directories under
    /// `$TMPDIR/strata-sandbox`.
    pub fn new(runtime: Runtime) -> Sandbox {
        Sandbox {
            runtime,
            state_dir: std::env::temp_dir().join("strata-sandbox"),
        }
    }

    /// Puts the per-run directories (the rootfs mount point, the hosts and
    /// resolv.conf files, the external runtime's bundle) under `dir`.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Sandbox {
        self.state_dir = dir.into();
        self
    }

    /// The runtime in use.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Where the per-run directories go.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Runs the step to completion. A process that exits non-zero is
    /// `Ok(ExitStatus::Code(n))`; `Err` means the process could not be run.
    pub fn run(&self, spec: &RunSpec, io: StepIo<'_>) -> Result<ExitStatus> {
        self.run_cancellable(spec, io, &CancelToken::new())
    }

    /// [`Sandbox::run`], killable through `cancel`; a killed step is
    /// [`SandboxError::Cancelled`]. All mounts and per-run directories are
    /// gone when this returns, whichever way.
    pub fn run_cancellable(
        &self,
        spec: &RunSpec,
        io: StepIo<'_>,
        cancel: &CancelToken,
    ) -> Result<ExitStatus> {
        validate(spec)?;
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        if !spec.limits.resources.is_empty() && self.runtime != Runtime::Embedded {
            return Err(SandboxError::Unsupported(
                "cgroup limits with an external runtime".into(),
            ));
        }
        // A cgroup of the step's own for its limits, gone with the step.
        let cgroup = StepCgroup::create(&spec.limits.resources)?;
        let dir = rundir::RunDir::create(&self.state_dir, spec)?;
        let config = spec::build(spec, &dir.rootfs, &dir.hosts, &dir.resolv_conf)?;
        let rootfs = spec::RootfsMount::from_run_spec(spec, &dir);
        let outcome = match &self.runtime {
            Runtime::Embedded => {
                embedded::run(&config, &rootfs, &dir, io, cancel, &cgroup.procs_files())
            }
            Runtime::External(path) => {
                let state = self.state_dir.join("runtime-state");
                external::run(path, &state, &dir, &config, &rootfs, io, cancel)
            }
        };
        cancel.disarm();
        rootfs.clear_volatile_mark();
        // Stubs go even when the step failed: the caller may keep the upper dir.
        let cleaned = stubs::clean(&spec.upper, &spec.lowers, &outcome.stubs);
        let removed = dir.remove();
        let status = outcome.result?;
        cleaned?;
        removed?;
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        Ok(status)
    }
}

/// A RUN step's cgroup (when it has limits); removed on drop.
struct StepCgroup(Option<crate::cgroup::Cgroup>);

impl StepCgroup {
    fn create(limits: &crate::cgroup::Resources) -> Result<StepCgroup> {
        if limits.is_empty() {
            return Ok(StepCgroup(None));
        }
        let name = format!("step-{}", hex::encode(rand::random::<[u8; 8]>()));
        crate::cgroup::Cgroup::create(&name, limits)
            .map(StepCgroup)
            .map_err(|e| SandboxError::InvalidSpec(e.to_string()))
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.0.as_ref().map(|c| c.procs_files()).unwrap_or_default()
    }
}

impl Drop for StepCgroup {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.remove();
        }
    }
}

/// What a runtime leaves: the result and the stubs it created in the rootfs.
#[derive(Debug)]
pub(crate) struct Outcome {
    result: Result<ExitStatus>,
    stubs: Vec<Stub>,
}

impl Outcome {
    fn failed(e: SandboxError) -> Outcome {
        Outcome {
            result: Err(e),
            stubs: Vec::new(),
        }
    }
}

fn validate(spec: &RunSpec) -> Result<()> {
    let bad = |m: String| Err(SandboxError::InvalidSpec(m));
    if spec.process.args.is_empty() {
        return bad("the process has no args".into());
    }
    for (what, p) in [("upper", &spec.upper), ("work", &spec.work)] {
        if !p.is_absolute() {
            return bad(format!("{what} dir {} is not absolute", p.display()));
        }
    }
    for p in &spec.lowers {
        if !p.is_absolute() {
            return bad(format!("lower dir {} is not absolute", p.display()));
        }
        // The overlay option string separates lower dirs with ':' and options with ','.
        if p.to_string_lossy().contains([':', ',']) {
            return bad(format!("lower dir {} contains ':' or ','", p.display()));
        }
    }
    if !spec.process.cwd.starts_with('/') {
        return bad(format!("cwd {:?} is not absolute", spec.process.cwd));
    }
    for m in &spec.mounts {
        if !m.destination.starts_with('/') || spec::clean_path(&m.destination) == "/" {
            return bad(format!(
                "mount destination {:?} is not usable",
                m.destination
            ));
        }
        if let MountKind::Bind { source, .. } = &m.kind {
            if !source.is_absolute() {
                return bad(format!("bind source {} is not absolute", source.display()));
            }
        }
    }
    for s in spec.process.args.iter().chain(&spec.process.env) {
        if s.contains('\0') {
            return bad("args and env must not contain NUL".into());
        }
    }
    Ok(())
}
