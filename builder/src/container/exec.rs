//! `exec`: another process in a running container (its namespaces, root, cgroup; docker's
//! capabilities and `no_new_privs`), with this process's stdio or a pty.

use super::attach::RawTerminal;
use super::start::process;
use super::{ContainerError, ContainerStore, Result, Status};
use crate::sandbox::{open_pty, ContainerStdio, Runtime, Sandbox};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

/// The flags of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command.
    pub cmd: Vec<String>,
    /// `-e KEY=VALUE`, on top of the container's environment.
    pub env: Vec<String>,
    /// `-w` (default: the container's working directory).
    pub workdir: Option<String>,
    /// `-u` (default: the container's user).
    pub user: Option<String>,
    /// `-t`: a pty.
    pub tty: bool,
    /// `-i`: forward stdin.
    pub stdin: bool,
    /// `-d`: start it and return.
    pub detach: bool,
}

fn dup(fd: impl AsFd) -> Result<OwnedFd> {
    fd.as_fd()
        .try_clone_to_owned()
        .map_err(ContainerError::io("dup"))
}

fn devnull() -> Result<OwnedFd> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(ContainerError::io("open /dev/null"))?
        .into())
}

/// Runs `opts.cmd` in container `query`; returns its exit code (None with `detach`).
pub fn exec(containers: &ContainerStore, query: &str, opts: &ExecOptions) -> Result<Option<i32>> {
    let c = containers.find(query)?;
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ContainerError::Invalid(format!(
                "Container {} is paused, unpause the container before exec",
                c.id()
            )))
        }
        _ => {
            return Err(ContainerError::Invalid(format!(
                "Container {} is not running",
                c.id()
            )))
        }
    }
    if opts.cmd.is_empty() {
        return Err(ContainerError::Invalid("No exec command specified".into()));
    }
    let store = containers.store();
    let lowers = {
        let _lease = store.lease()?;
        c.lowers(store)?
    };
    let mut env = c.config.env.clone();
    for e in &opts.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let mut proc = process(
        &lowers,
        &c,
        &opts.cmd,
        &env,
        opts.workdir.as_deref().unwrap_or(&c.config.workdir),
        opts.user.as_deref().unwrap_or(&c.config.user),
    )?;
    if opts.tty && !proc.env.iter().any(|e| e.starts_with("TERM=")) {
        proc.env.push("TERM=xterm".into());
    }
    let cgroup_procs: Vec<_> = crate::cgroup::Cgroup::at(&c.id().hex())
        .map(|cg| cg.procs_files())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    let sandbox = Sandbox::new(Runtime::Embedded);
    if opts.detach {
        let stdio = ContainerStdio {
            stdin: devnull()?,
            stdout: devnull()?,
            stderr: devnull()?,
            tty: false,
            cgroup_procs: cgroup_procs.clone(),
        };
        sandbox.exec(c.state.pid, &proc, stdio)?.detach();
        return Ok(None);
    }
    if !opts.tty {
        let stdio = ContainerStdio {
            stdin: if opts.stdin {
                dup(std::io::stdin())?
            } else {
                devnull()?
            },
            stdout: dup(std::io::stdout())?,
            stderr: dup(std::io::stderr())?,
            tty: false,
            cgroup_procs: cgroup_procs.clone(),
        };
        let started = sandbox.exec(c.state.pid, &proc, stdio)?;
        return Ok(Some(started.wait()?.code()));
    }
    let (master, slave) = open_pty()?;
    if let Ok(size) = rustix::termios::tcgetwinsize(rustix::stdio::stdout()) {
        let _ = rustix::termios::tcsetwinsize(&master, size);
    }
    let stdio = ContainerStdio {
        stdin: dup(&slave)?,
        stdout: dup(&slave)?,
        stderr: slave,
        tty: true,
        cgroup_procs,
    };
    let _raw = opts.stdin.then(RawTerminal::enable);
    let started = sandbox.exec(c.state.pid, &proc, stdio)?;
    if opts.stdin {
        let mut to = File::from(dup(&master)?);
        std::thread::spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    let mut from = File::from(master);
    let out = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let stdout = std::io::stdout();
        // Ends with EIO once the process and its children closed the pty.
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut o = stdout.lock();
            let _ = o.write_all(&buf[..n]).and_then(|_| o.flush());
        }
    });
    let status = started.wait()?;
    let _ = out.join();
    Ok(Some(status.code()))
}
