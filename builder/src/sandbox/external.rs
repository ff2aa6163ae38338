//! An external OCI runtime (`runc`, `crun`, or any with runc's command
//! line) running the same config from a bundle: the overlay is mounted on
//! the host at the config's `root.path`, the runtime does the rest.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use oci_spec::runtime::Spec;

use super::plan::is_under;
use super::rundir::RunDir;
use super::spec::{clean_path, RootfsMount};
use super::stubs::{self, Stub};
use super::syscalls::{FileKind, Linux, Syscalls};
use super::{CancelToken, ExitStatus, Kill, Outcome, Result, SandboxError, StepIo};

/// Runs `config` through the runtime at `runtime`, keeping the runtime's
/// state under `state_root`.
pub(crate) fn run(
    runtime: &Path,
    state_root: &Path,
    dir: &RunDir,
    config: &Spec,
    rootfs: &RootfsMount,
    io: StepIo<'_>,
    cancel: &CancelToken,
) -> Outcome {
    let mut stubs = Vec::new();
    let result = run_mounted(
        runtime, state_root, dir, config, rootfs, io, cancel, &mut stubs,
    );
    Outcome { result, stubs }
}

/// The overlay mounted on the host; unmounted on drop.
struct HostMount {
    target: CString,
}

impl HostMount {
    fn mount(rootfs: &RootfsMount, lowers: &[String]) -> Result<HostMount> {
        let target = CString::new(rootfs.target.as_os_str().as_bytes())
            .map_err(|_| SandboxError::InvalidSpec("rootfs path contains NUL".into()))?;
        let data = CString::new(rootfs.options(lowers))
            .map_err(|_| SandboxError::InvalidSpec("overlay options contain NUL".into()))?;
        Linux::host()
            .mount(Some(c"overlay"), &target, Some(c"overlay"), 0, Some(&data))
            .map_err(|e| {
                SandboxError::io(
                    format!("mount the overlay on {}", rootfs.target.display()),
                    e.into(),
                )
            })?;
        Ok(HostMount { target })
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let mut sys = Linux::host();
        // Busy only if something of the step survived; then detach lazily.
        if sys.umount(&self.target, false).is_err() {
            let _ = sys.umount(&self.target, true);
        }
    }
}

#[derive(Debug)]
struct RuntimeKiller {
    runtime: PathBuf,
    root: PathBuf,
    id: String,
}

impl Kill for RuntimeKiller {
    fn kill(&self) {
        // `kill --all`: every process of the container, as its PID 1 may ignore signals.
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(&self.root)
            .args(["kill", "--all", &self.id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[allow(clippy::too_many_arguments)]
fn run_mounted(
    runtime: &Path,
    state_root: &Path,
    dir: &RunDir,
    config: &Spec,
    rootfs: &RootfsMount,
    io: StepIo<'_>,
    cancel: &CancelToken,
    stubs_out: &mut Vec<Stub>,
) -> Result<ExitStatus> {
    let config_path = dir.path().join("config.json");
    config.save(&config_path).map_err(|e| {
        SandboxError::io(
            format!("write {}", config_path.display()),
            std::io::Error::other(e.to_string()),
        )
    })?;
    std::fs::create_dir_all(state_root)
        .map_err(|e| SandboxError::io(format!("create {}", state_root.display()), e))?;
    let (lowers, _) = dir.lower_names(rootfs, false)?;
    let _mounted = HostMount::mount(rootfs, &lowers)?;

    // The mount points the runtime would create, made here so that they
    // are known and leave no trace (see stubs.rs); mount points under an
    // earlier mount are not in the rootfs.
    let mut points: Vec<(String, FileKind)> = Vec::new();
    for m in config.mounts().iter().flatten() {
        let dest = clean_path(&m.destination().to_string_lossy());
        let kind = match (m.typ().as_deref(), m.source()) {
            (Some("bind"), Some(src)) if !src.is_dir() => FileKind::File,
            _ => FileKind::Dir,
        };
        if !points.iter().any(|(p, _)| is_under(&dest, p)) {
            points.push((dest, kind));
        }
    }
    *stubs_out = stubs::create(&rootfs.target, &points)?;
    // The working directory is created too, as BuildKit does, and stays.
    if let Some(p) = config.process() {
        stubs::create(
            &rootfs.target,
            &[(clean_path(&p.cwd().to_string_lossy()), FileKind::Dir)],
        )?;
    }

    let id = format!(
        "strata-{}",
        dir.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let log = dir.path().join("runtime.log");
    let pid_file = dir.path().join("pid");
    let (stdio, pump) = io.open()?;
    let mut child = Command::new(runtime)
        .arg("--root")
        .arg(state_root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "run", "--bundle"])
        .arg(dir.path())
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .stdin(Stdio::from(stdio.stdin))
        .stdout(Stdio::from(stdio.stdout))
        .stderr(Stdio::from(stdio.stderr))
        .spawn()
        .map_err(|e| SandboxError::Runtime {
            runtime: runtime.to_path_buf(),
            message: format!("cannot start it: {e}"),
        })?;
    let killer = Arc::new(RuntimeKiller {
        runtime: runtime.to_path_buf(),
        root: state_root.to_path_buf(),
        id: id.clone(),
    });
    if !cancel.arm(killer.clone()) {
        killer.kill();
    }
    let status = pump.run(|| child.wait());
    let status = status.map_err(|e| SandboxError::io("wait for the OCI runtime", e))?;
    let started = pid_file.exists();
    let _ = std::fs::remove_file(&pid_file);
    let message = last_log_error(&log);
    let _ = std::fs::remove_file(&log);
    if !started {
        // The process never ran: whatever the runtime said is the error.
        let _ = Command::new(runtime)
            .arg("--root")
            .arg(state_root)
            .args(["delete", "--force", &id])
            .stderr(Stdio::null())
            .status();
        return Err(SandboxError::Runtime {
            runtime: runtime.to_path_buf(),
            message: message
                .unwrap_or_else(|| format!("failed before starting the process ({status})")),
        });
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => ExitStatus::Code(c),
        (None, Some(s)) => ExitStatus::Signal(s),
        (None, None) => ExitStatus::Code(-1),
    })
}

/// The last `"level":"error"` message of the runtime's JSON log.
fn last_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("level").and_then(|l| l.as_str()) == Some("error"))
        .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(String::from))
        .next()
}
