//! `start`: launches a container's monitor (which starts the process) and, when asked,
//! attaches to it. Also the container's [`RunSpec`]: the same sandbox as a RUN step, on the
//! container's own upper dir.

use super::monitor::{MONITOR_LOG, SOCKET};
use super::protocol::{connect, Frame};
use super::{Container, ContainerError, ContainerStore, Network, Result};
use crate::sandbox::{Mount, MountKind, NetworkMode, Process, RunSpec};
use crate::solver::rootfs::resolve_user;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

/// docker's default PATH, for an image whose env has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The sandbox spec of a container's process.
pub fn run_spec(store: &strata_cache::Store, c: &Container) -> Result<RunSpec> {
    let lowers = {
        // Recreating a missing snapshot writes to the store.
        let _lease = store.lease()?;
        c.lowers(store)?
    };
    let process = process(
        &lowers,
        c,
        &c.config.argv(),
        &c.config.env,
        &c.config.workdir,
        &c.config.user,
    )?;
    let hostname = c.config.hostname.clone();
    Ok(RunSpec {
        lowers,
        upper: c.upper_dir(store),
        work: c.work_dir(store),
        process,
        // A bridge-networked container's namespace is made and joined by its monitor.
        network: match c.config.network {
            Network::None | Network::Bridge => NetworkMode::None,
            Network::Host => NetworkMode::Host,
        },
        mounts: c
            .config
            .volumes
            .iter()
            .map(|v| Mount {
                destination: v.destination.clone(),
                kind: MountKind::Bind {
                    source: v.source.clone(),
                    readonly: v.readonly,
                },
            })
            .collect(),
        hostname: hostname.clone(),
        hosts: super::network::hosts(store, c)?,
        resolv_conf: super::network::resolv_conf(c),
        limits: crate::sandbox::Limits {
            resources: Default::default(),
            ulimits: c.config.ulimits.clone(),
        },
    })
}

/// A process in `c`: user resolved from the image's passwd/group, docker's environment
/// additions (PATH, HOSTNAME, TERM with a tty).
pub fn process(
    lowers: &[std::path::PathBuf],
    c: &Container,
    args: &[String],
    env: &[String],
    workdir: &str,
    user: &str,
) -> Result<Process> {
    let (uid, gid, additional_gids) = resolve_user(lowers, user)?;
    let mut env = env.to_vec();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1, format!("HOSTNAME={}", c.config.hostname));
    }
    if c.config.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    Ok(Process {
        args: args.to_vec(),
        env,
        cwd: if workdir.is_empty() {
            "/".into()
        } else {
            workdir.to_string()
        },
        uid,
        gid,
        additional_gids,
    })
}

/// A started container.
#[derive(Debug)]
pub struct Launched {
    /// The process's host pid.
    pub pid: i32,
    /// The attach connection, when asked for.
    pub attach: Option<UnixStream>,
}

/// Starts container `c` under a new monitor: runs `exe --root ROOT container-monitor ID`
/// (`exe` is strata itself) and waits until the process runs or failed to start. With
/// `attach` the returned connection is registered before the process starts, so it sees
/// all of its output; `stdin` says whether the client will send stdin.
pub fn launch(
    containers: &ContainerStore,
    c: &Container,
    exe: &Path,
    attach: bool,
    stdin: bool,
) -> Result<Launched> {
    let store = containers.store();
    if c.is_running() {
        return Err(ContainerError::Invalid(format!(
            "container {} is already running",
            c.name()
        )));
    }
    // A new start: the restart policy applies again.
    containers.update_state(c.id(), |s| {
        s.stopped_by_user = false;
        Ok(())
    })?;
    let dir = c.dir(store);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(MONITOR_LOG))
        .map_err(ContainerError::io("open monitor.log"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(store.root())
        .arg("container-monitor")
        .arg(c.id().hex());
    if attach {
        cmd.arg("--attach-first");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(ContainerError::io(format!("run {}", exe.display())))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| ContainerError::Invalid("the monitor's output pipe is missing".into()))?;
    // The first stage exits as soon as the real monitor runs in its own session.
    let _ = child.wait();
    let mut lines = BufReader::new(out).lines();
    let mut next = || -> Result<String> {
        match lines.next() {
            Some(Ok(l)) => Ok(l),
            _ => Err(ContainerError::Invalid(format!(
                "the container's monitor ended before starting it (see {})",
                dir.join(MONITOR_LOG).display()
            ))),
        }
    };
    let mut stream = None;
    let mut line = next()?;
    if attach && line == "listening" {
        let mut s = connect(&dir, SOCKET).map_err(ContainerError::io("connect to the monitor"))?;
        Frame::Hello { stdin }
            .write_to(&mut s)
            .map_err(ContainerError::io("attach"))?;
        stream = Some(s);
        line = next()?;
    }
    if let Some(pid) = line.strip_prefix("started ") {
        return Ok(Launched {
            pid: pid.trim().parse().unwrap_or(0),
            attach: stream,
        });
    }
    let rest = line.strip_prefix("error ").unwrap_or(&line);
    let (code, message) = match rest.split_once(' ') {
        Some((n, m)) if n.parse::<i32>().is_ok() => (n.parse().unwrap_or(128), m.to_string()),
        _ => (128, rest.to_string()),
    };
    Err(ContainerError::StartFailed { message, code })
}
