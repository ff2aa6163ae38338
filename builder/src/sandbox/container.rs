//! Long-running processes for containers: [`Sandbox::start`] runs a
//! [`RunSpec`] with standard streams the caller hands (a pty or pipes) and
//! returns once the process runs; [`Sandbox::exec`] starts another process
//! inside a running container's namespaces (`setns` into its mount, PID,
//! IPC, UTS and network namespaces, `chroot` to its root, a fork into its
//! PID namespace), with the same capabilities and `no_new_privs` as the
//! container's process. Both use the embedded runtime only.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::process::{Pid, PidfdFlags, Signal};

use super::embedded::{child_main, last_cap, parse_reports, setup_error, ChildProcess};
use super::plan::{self, clone, cstr, exec_candidates, path_cstr, Op, Plan};
use super::rundir::RunDir;
use super::spawn;
use super::spec::{self, capability_mask, RootfsMount, DEFAULT_CAPABILITIES};
use super::stubs::{self, Stub};
use super::syscalls::{FileKind, Linux};
use super::{
    io::ChildStdio, validate, ExitStatus, Process, Result, RunSpec, Runtime, Sandbox, SandboxError,
};

/// The standard streams and placement of a container process.
#[derive(Debug)]
pub struct ContainerStdio {
    /// Descriptor 0 of the process.
    pub stdin: OwnedFd,
    /// Descriptor 1.
    pub stdout: OwnedFd,
    /// Descriptor 2.
    pub stderr: OwnedFd,
    /// Standard input is a pty slave that becomes the controlling terminal.
    pub tty: bool,
    /// `cgroup.procs` files (one per v1 hierarchy, one on v2) of the cgroup the process
    /// joins before it runs anything (limits, stats, the freezer).
    pub cgroup_procs: Vec<PathBuf>,
}

/// A started container process.
#[derive(Debug)]
pub struct Started {
    pid: i32,
    child: ChildProcess,
    cleanup: Option<Cleanup>,
}

/// What [`Started::wait`] undoes after a [`Sandbox::start`].
#[derive(Debug)]
struct Cleanup {
    dir: RunDir,
    upper: PathBuf,
    lowers: Vec<PathBuf>,
    stubs: Vec<Stub>,
}

impl Started {
    /// The process's pid (in this process's PID namespace).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A pidfd of the process.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.child.pidfd.as_fd()
    }

    /// Sends `signal` to the process (for a container: PID 1 of its namespace).
    pub fn signal(&self, signal: Signal) -> Result<()> {
        rustix::process::pidfd_send_signal(self.child.pidfd.as_fd(), signal)
            .map_err(|e| SandboxError::io("pidfd_send_signal", e.into()))
    }

    /// Lets the process run on without this handle: it is neither killed nor
    /// waited for (its parent's exit hands it to init).
    pub fn detach(mut self) {
        self.child.reaped = true;
        self.cleanup = None;
    }

    /// Waits for the process to end; then removes the mount-point stubs the
    /// setup created from the upper dir and the per-run directory.
    pub fn wait(mut self) -> Result<ExitStatus> {
        let status = self.child.wait();
        if let Some(c) = self.cleanup.take() {
            let cleaned = stubs::clean(&c.upper, &c.lowers, &c.stubs);
            let removed = c.dir.remove();
            cleaned?;
            removed?;
        }
        status
    }
}

impl Sandbox {
    /// Starts `spec`'s process with the caller's standard streams and
    /// returns once it runs (the setup succeeded and `execve` was reached);
    /// a failed setup is an error, as with [`Sandbox::run`]. The process dies
    /// with the thread that called this (`PR_SET_PDEATHSIG`), so that thread
    /// must live until [`Started::wait`]. The overlay is mounted without
    /// `volatile`: the upper dir is a container's state, not scratch space.
    pub fn start(&self, spec: &RunSpec, stdio: ContainerStdio) -> Result<Started> {
        validate(spec)?;
        if self.runtime != Runtime::Embedded {
            return Err(SandboxError::Unsupported(
                "containers with an external runtime".into(),
            ));
        }
        let dir = RunDir::create(&self.state_dir, spec)?;
        let config = spec::build(spec, &dir.rootfs, &dir.hosts, &dir.resolv_conf)?;
        let mut rootfs = RootfsMount::from_run_spec(spec, &dir);
        rootfs.volatile = false;
        let (lowers, base) = dir.lower_names(&rootfs, true)?;
        let source_kind = |p: &Path| {
            if p.is_dir() {
                FileKind::Dir
            } else {
                FileKind::File
            }
        };
        let mut plan = plan::build(
            &config,
            &rootfs,
            &lowers,
            base.as_deref(),
            &source_kind,
            last_cap(),
        )?;
        let mut first = Vec::new();
        for procs in &stdio.cgroup_procs {
            first.push(Op::JoinCgroup(path_cstr(procs)?));
        }
        if stdio.tty {
            first.push(Op::ControllingTerminal);
        }
        plan.ops.splice(0..0, first);
        let child_stdio = ChildStdio {
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
        };
        let (child, pid, reports) = spawn_plan(&plan, &child_stdio)?;
        drop(child_stdio);
        let (stubs, failure, _) = reports;
        let started = Started {
            pid,
            child,
            cleanup: Some(Cleanup {
                dir,
                upper: spec.upper.clone(),
                lowers: spec.lowers.clone(),
                stubs,
            }),
        };
        if let Some((index, errno)) = failure {
            // Reap (the child exits after reporting), clean up, then report.
            let _ = started.wait();
            return Err(setup_error(&plan, index, errno));
        }
        Ok(started)
    }

    /// Starts `process` inside the running container whose PID 1 is `pid`
    /// (host pid), with `stdio`; returns once it runs. `process.cwd` must
    /// exist in the container. The process is a child of the calling
    /// process (not of its thread) and does not die with it.
    pub fn exec(&self, pid: i32, process: &Process, stdio: ContainerStdio) -> Result<Started> {
        if process.args.is_empty() {
            return Err(SandboxError::InvalidSpec("the process has no args".into()));
        }
        let plan = exec_plan(pid, process, &stdio)?;
        let child_stdio = ChildStdio {
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
        };
        let (mut intermediate, _, (_, failure, sibling)) = spawn_plan(&plan, &child_stdio)?;
        drop(child_stdio);
        // The process that joined the namespaces forked and exits at once.
        let _ = intermediate.wait();
        let Some(sibling) = sibling else {
            let (index, errno) =
                failure.unwrap_or((u32::MAX, rustix::io::Errno::SRCH.raw_os_error()));
            return Err(setup_error(&plan, index, errno));
        };
        let raw = Pid::from_raw(sibling)
            .ok_or_else(|| SandboxError::io("exec", std::io::Error::other("bad pid")))?;
        let pidfd = rustix::process::pidfd_open(raw, PidfdFlags::empty())
            .map_err(|e| SandboxError::io("pidfd_open", e.into()))?;
        let mut child = ChildProcess {
            pidfd: Arc::new(pidfd),
            reaped: false,
        };
        if let Some((index, errno)) = failure {
            let _ = child.wait();
            return Err(setup_error(&plan, index, errno));
        }
        Ok(Started {
            pid: sibling,
            child,
            cleanup: None,
        })
    }
}

/// Clones a child that carries out `plan`, and reads its reports until it
/// executes the process or fails.
fn spawn_plan(
    plan: &Plan,
    stdio: &ChildStdio,
) -> Result<(ChildProcess, i32, super::embedded::Reports)> {
    let (report_r, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| SandboxError::io("pipe", e.into()))?;
    let mut sys = Linux::child(plan.slots, report_w.as_fd(), &plan.args, &plan.env);
    let (pid, pidfd) = spawn::clone_child(plan.clone_flags, || {
        child_main(plan, &mut sys, stdio, report_w.as_fd())
    })
    .map_err(|e| SandboxError::io("clone3", e.into()))?;
    drop(sys);
    drop(report_w);
    let child = ChildProcess {
        pidfd: Arc::new(pidfd),
        reaped: false,
    };
    let mut reports = Vec::new();
    std::fs::File::from(report_r)
        .read_to_end(&mut reports)
        .map_err(|e| SandboxError::io("read the child's reports", e))?;
    Ok((child, pid, parse_reports(&reports)))
}

/// The plan of an exec: join the container's cgroup and namespaces, take its
/// root, fork into its PID namespace, then the process's credentials as for
/// a container's own process, and `execve`.
pub fn exec_plan(pid: i32, process: &Process, stdio: &ContainerStdio) -> Result<Plan> {
    let mut ops = Vec::new();
    for procs in &stdio.cgroup_procs {
        ops.push(Op::JoinCgroup(path_cstr(procs)?));
    }
    let proc_dir = format!("/proc/{pid}");
    // The mount namespace last: after it, /proc of the host is out of reach.
    let namespaces = [
        ("ipc", clone::NEWIPC),
        ("uts", clone::NEWUTS),
        ("net", clone::NEWNET),
        ("pid", clone::NEWPID),
        ("mnt", clone::NEWNS),
    ];
    for (slot, (name, _)) in namespaces.iter().enumerate() {
        ops.push(Op::OpenFd {
            slot,
            path: cstr(format!("{proc_dir}/ns/{name}"))?,
        });
    }
    let root_slot = namespaces.len();
    ops.push(Op::OpenFd {
        slot: root_slot,
        path: cstr(format!("{proc_dir}/root"))?,
    });
    for (slot, (_, nstype)) in namespaces.iter().enumerate() {
        ops.push(Op::SetNs {
            slot,
            nstype: *nstype,
        });
    }
    ops.push(Op::ChrootTo(root_slot));
    ops.push(Op::ForkSibling);
    ops.push(Op::NewSession);
    if stdio.tty {
        ops.push(Op::ControllingTerminal);
    }
    ops.push(Op::Chdir(cstr(&process.cwd)?));
    ops.push(Op::Umask(0o022));
    let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let mask = capability_mask(Some(&caps))?;
    ops.push(Op::KeepCaps(true));
    ops.push(Op::LimitBounding {
        keep: mask,
        last_cap: last_cap(),
    });
    ops.push(Op::SetGroups(process.additional_gids.clone()));
    ops.push(Op::SetGid(process.gid));
    ops.push(Op::SetUid(process.uid));
    ops.push(Op::KeepCaps(false));
    // root keeps docker's set; another user starts with none, as the kernel
    // clears them on a uid change without keep-caps.
    let (effective, permitted) = if process.uid == 0 {
        (mask, mask)
    } else {
        (0, 0)
    };
    ops.push(Op::SetCapabilities {
        effective,
        permitted,
        inheritable: 0,
    });
    ops.push(Op::Ambient(0));
    ops.push(Op::NoNewPrivs);
    let program = process.args[0].clone();
    ops.push(Op::Exec {
        candidates: exec_candidates(&program, &process.env)?,
        program,
    });
    Ok(Plan {
        clone_flags: 0,
        ops,
        slots: root_slot + 1,
        args: process
            .args
            .iter()
            .map(cstr)
            .collect::<Result<Vec<CString>>>()?,
        env: process.env.iter().map(cstr).collect::<Result<_>>()?,
        groups: process
            .additional_gids
            .iter()
            .map(|g| rustix::process::Gid::from_raw(*g))
            .collect(),
    })
}

/// A fresh pty: (master, slave), both close-on-exec; the slave is what a
/// process gets as its standard streams.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let io = |what: &'static str| move |e: rustix::io::Errno| SandboxError::io(what, e.into());
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(io("posix_openpt"))?;
    rustix::pty::grantpt(&master).map_err(io("grantpt"))?;
    rustix::pty::unlockpt(&master).map_err(io("unlockpt"))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(io("ptsname"))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io("open the pty slave"))?;
    Ok((master, slave))
}

#[cfg(test)]
mod tests {
    use super::super::child::apply;
    use super::super::syscalls::{Call, Recording};
    use super::*;

    fn stdio(tty: bool, cgroup: Option<&str>) -> ContainerStdio {
        let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        ContainerStdio {
            stdin: null(),
            stdout: null(),
            stderr: null(),
            tty,
            cgroup_procs: cgroup.map(PathBuf::from).into_iter().collect(),
        }
    }

    fn process() -> Process {
        Process {
            args: vec!["ps".into(), "-ef".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/work".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
        }
    }

    #[test]
    fn exec_joins_cgroup_namespaces_and_root_then_forks_and_drops_privileges() {
        let plan = exec_plan(42, &process(), &stdio(true, Some("/cg/cgroup.procs"))).unwrap();
        let mut sys = Recording::default();
        sys.files.insert("/bin/ps".into());
        apply(&plan, &mut sys).unwrap();
        let calls = &sys.calls;
        let pos = |c: &Call| {
            calls
                .iter()
                .position(|x| x == c)
                .unwrap_or_else(|| panic!("{c:?} not in {calls:?}"))
        };
        assert_eq!(calls[0], Call::JoinCgroup("/cg/cgroup.procs".into()));
        for (slot, ns) in ["ipc", "uts", "net", "pid", "mnt"].iter().enumerate() {
            assert!(
                pos(&Call::OpenFd(slot, format!("/proc/42/ns/{ns}")))
                    < pos(&Call::Setns(0, clone::NEWIPC))
            );
        }
        assert!(pos(&Call::OpenFd(5, "/proc/42/root".into())) < pos(&Call::Setns(4, clone::NEWNS)));
        // The mount namespace last (the host's /proc is gone after it), then the root.
        assert!(pos(&Call::Setns(3, clone::NEWPID)) < pos(&Call::Setns(4, clone::NEWNS)));
        assert!(pos(&Call::Setns(4, clone::NEWNS)) < pos(&Call::Fchdir(5)));
        assert_eq!(calls[pos(&Call::Fchdir(5)) + 1], Call::Chroot(".".into()));
        // The fork into the PID namespace, a session with the pty, then the process.
        let fork = pos(&Call::ForkSibling);
        assert!(pos(&Call::Chroot(".".into())) < fork);
        assert_eq!(calls[fork + 1], Call::Setsid);
        assert_eq!(calls[fork + 2], Call::SetControllingTerminal);
        assert_eq!(calls[fork + 3], Call::Chdir("/work".into()));
        assert!(pos(&Call::SetGroups(vec![10])) < pos(&Call::SetUid(1000)));
        assert!(pos(&Call::SetUid(1000)) < pos(&Call::SetNoNewPrivs));
        assert_eq!(
            calls[pos(&Call::SetNoNewPrivs)..],
            [Call::SetNoNewPrivs, Call::Exec("/bin/ps".into())]
        );
        // A non-root user keeps no capabilities.
        assert!(calls.contains(&Call::SetCapabilities {
            effective: 0,
            permitted: 0,
            inheritable: 0
        }));
    }

    #[test]
    fn exec_without_tty_or_cgroup_and_failures_name_their_step() {
        let plan = exec_plan(7, &process(), &stdio(false, None)).unwrap();
        assert!(!plan
            .ops
            .iter()
            .any(|o| matches!(o, Op::JoinCgroup(_) | Op::ControllingTerminal)));
        assert_eq!(
            plan.clone_flags, 0,
            "the exec joins namespaces, it makes none"
        );
        let mut sys = Recording {
            fail: Some(Call::Setns(4, clone::NEWNS)),
            ..Recording::default()
        };
        let failure = apply(&plan, &mut sys).unwrap_err();
        let err = setup_error(&plan, failure.index as u32, failure.errno.raw_os_error());
        assert!(err.to_string().contains("setns 0x20000"), "{err}");
        assert!(!sys.calls.contains(&Call::ForkSibling));
    }
}
