//! The embedded runtime: a child in new namespaces carries out the plan of
//! the OCI config and executes the process; the parent reads the child's
//! reports, drains its output and waits for it.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use oci_spec::runtime::Spec;
use rustix::process::{Signal, WaitId, WaitIdOptions};

use super::child;
use super::io::ChildStdio;
use super::plan::{self, Op, Plan};
use super::rundir::RunDir;
use super::spawn;
use super::spec::RootfsMount;
use super::stubs::Stub;
use super::syscalls::{write_all, FileKind, Linux};
use super::{CancelToken, ExitStatus, Kill, Outcome, Result, SandboxError, StepIo};

/// Runs `config` with the rootfs overlay `rootfs`.
pub(crate) fn run(
    config: &Spec,
    rootfs: &RootfsMount,
    dir: &RunDir,
    io: StepIo<'_>,
    cancel: &CancelToken,
    cgroup_procs: &[std::path::PathBuf],
) -> Outcome {
    let (lowers, base) = match dir.lower_names(rootfs, true) {
        Ok(l) => l,
        Err(e) => return Outcome::failed(e),
    };
    let source_kind = |p: &Path| {
        if p.is_dir() {
            FileKind::Dir
        } else {
            FileKind::File
        }
    };
    let plan = match plan::build(
        config,
        rootfs,
        &lowers,
        base.as_deref(),
        &source_kind,
        last_cap(),
    ) {
        Ok(p) => p,
        Err(e) => return Outcome::failed(e),
    };
    let mut plan = plan;
    // The step joins its cgroup before anything else, so all it does is limited.
    let mut joins = Vec::new();
    for p in cgroup_procs {
        match plan::path_cstr(p) {
            Ok(c) => joins.push(Op::JoinCgroup(c)),
            Err(e) => return Outcome::failed(e),
        }
    }
    plan.ops.splice(0..0, joins);
    match start(&plan, io, cancel) {
        Ok(o) => o,
        Err(e) => Outcome::failed(e),
    }
}

/// The kernel's highest capability number (40 on 5.9+).
pub(crate) fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// A started child: killed and reaped if dropped before it was waited for.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    pub(crate) pidfd: Arc<OwnedFd>,
    pub(crate) reaped: bool,
}

impl ChildProcess {
    pub(crate) fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            match rustix::process::waitid(WaitId::PidFd(self.pidfd.as_fd()), WaitIdOptions::EXITED)
            {
                Ok(Some(st)) => {
                    self.reaped = true;
                    return Ok(match st.terminating_signal() {
                        Some(sig) => ExitStatus::Signal(sig),
                        None => ExitStatus::Code(st.exit_status().unwrap_or(0)),
                    });
                }
                Ok(None) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(SandboxError::io("waitid", e.into())),
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = rustix::process::pidfd_send_signal(self.pidfd.as_fd(), Signal::KILL);
            let _ = self.wait();
        }
    }
}

#[derive(Debug)]
struct PidfdKiller(Arc<OwnedFd>);

impl Kill for PidfdKiller {
    fn kill(&self) {
        // The child is PID 1 of its namespace: its death takes every
        // process of the step with it.
        let _ = rustix::process::pidfd_send_signal(self.0.as_fd(), Signal::KILL);
    }
}

fn start(plan: &Plan, io: StepIo<'_>, cancel: &CancelToken) -> Result<Outcome> {
    let (stdio, pump) = io.open()?;
    let (report_r, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| SandboxError::io("pipe", e.into()))?;
    let mut sys = Linux::child(plan.slots, report_w.as_fd(), &plan.args, &plan.env);
    let (_pid, pidfd) = spawn::clone_child(plan.clone_flags, || {
        child_main(plan, &mut sys, &stdio, report_w.as_fd())
    })
    .map_err(|e| SandboxError::io("clone3 into new namespaces", e.into()))?;
    drop(sys);
    drop(stdio);
    drop(report_w);
    let pidfd = Arc::new(pidfd);
    let mut child = ChildProcess {
        pidfd: pidfd.clone(),
        reaped: false,
    };
    if !cancel.arm(Arc::new(PidfdKiller(pidfd))) {
        return Ok(Outcome::failed(SandboxError::Cancelled));
    }

    // The report pipe reaches end of file when the child executes the
    // process (close-on-exec) or exits.
    let mut reports = Vec::new();
    let read = std::fs::File::from(report_r).read_to_end(&mut reports);
    let (stubs, failure, _) = parse_reports(&reports);
    if let Err(e) = read {
        return Ok(Outcome {
            result: Err(SandboxError::io("read the child's reports", e)),
            stubs,
        });
    }
    if let Some((index, errno)) = failure {
        let _ = child.wait();
        return Ok(Outcome {
            result: Err(setup_error(plan, index, errno)),
            stubs,
        });
    }
    let result = pump.run(|| child.wait());
    Ok(Outcome { result, stubs })
}

pub(crate) fn setup_error(plan: &Plan, index: u32, errno: i32) -> SandboxError {
    let source = std::io::Error::from_raw_os_error(errno);
    match plan.ops.get(index as usize) {
        Some(Op::Exec { program, .. }) => SandboxError::Exec {
            program: program.clone(),
            source,
        },
        Some(op) => SandboxError::Setup {
            step: op.describe(),
            source,
        },
        None => SandboxError::Setup {
            step: "prepare the standard streams".into(),
            source,
        },
    }
}

/// Record tags on the report pipe.
const STUB: u8 = b'S';
const FAILED: u8 = b'E';

const PID: u8 = b'P';

/// What the child reported: stubs, a failure (op index, errno), the pid of
/// the process made by `ForkSibling`.
pub(crate) type Reports = (Vec<Stub>, Option<(u32, i32)>, Option<i32>);

/// Stub records (`S`, u16 length, path), at most one failure record
/// (`E`, u32 op index, i32 errno) and one pid record (`P`, i32),
/// little-endian.
pub(crate) fn parse_reports(mut buf: &[u8]) -> Reports {
    let mut stubs = Vec::new();
    let mut failure = None;
    let mut sibling = None;
    while let Some((&tag, rest)) = buf.split_first() {
        match tag {
            STUB if rest.len() >= 2 => {
                let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
                let Some(path) = rest.get(2..2 + len) else {
                    break;
                };
                stubs.push(Stub::from_container_path(path));
                buf = &rest[2 + len..];
            }
            FAILED if rest.len() >= 8 => {
                let index = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                let errno = i32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
                failure = Some((index, errno));
                buf = &rest[8..];
            }
            PID if rest.len() >= 4 => {
                sibling = Some(i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
                buf = &rest[4..];
            }
            _ => break,
        }
    }
    (stubs, failure, sibling)
}

/// The child: standard streams, signals, then the plan. Allocation-free.
pub(crate) fn child_main(
    plan: &Plan,
    sys: &mut Linux<'_>,
    stdio: &ChildStdio,
    report: BorrowedFd<'_>,
) -> i32 {
    let fail = |index: u32, errno: rustix::io::Errno| {
        let mut rec = [0u8; 9];
        rec[0] = FAILED;
        rec[1..5].copy_from_slice(&index.to_le_bytes());
        rec[5..9].copy_from_slice(&errno.raw_os_error().to_le_bytes());
        let _ = write_all(report, &rec);
        127
    };
    spawn::reset_signals();
    // Dies with the thread that started it, so a killed strata leaves no step behind.
    let prepared = rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .and_then(|_| rustix::process::setsid().map(drop))
        .and_then(|_| rustix::stdio::dup2_stdin(&stdio.stdin))
        .and_then(|_| rustix::stdio::dup2_stdout(&stdio.stdout))
        .and_then(|_| rustix::stdio::dup2_stderr(&stdio.stderr))
        .and_then(|_| spawn::cloexec_from_3());
    if let Err(e) = prepared {
        return fail(u32::MAX, e);
    }
    match child::apply(plan, sys) {
        Ok(()) => 0,
        Err(f) => fail(f.index as u32, f.errno),
    }
}
