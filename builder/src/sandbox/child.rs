//! Carries out a [`Plan`] through [`Syscalls`]: the child's side of the
//! embedded runtime. Nothing here allocates (see `syscalls.rs`).

use std::ffi::CStr;

use rustix::io::Errno;

use super::plan::{ms, Op, Plan};
use super::syscalls::{FileKind, SysResult, Syscalls};

/// The operation that failed and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Index into [`Plan::ops`].
    pub index: usize,
    /// The error.
    pub errno: Errno,
}

/// Performs the plan's operations in order. Returns only if an operation
/// failed or the double's `exec` "succeeded" (`Ok`).
pub fn apply(plan: &Plan, sys: &mut dyn Syscalls) -> Result<(), Failure> {
    for (index, op) in plan.ops.iter().enumerate() {
        if let Op::ForkSibling = op {
            let pid = sys
                .fork_sibling()
                .map_err(|errno| Failure { index, errno })?;
            if pid != 0 {
                // The forking process's part ends here; the new one goes on.
                let reported = sys.report_pid(pid);
                sys.exit_now(if reported.is_ok() { 0 } else { 1 });
                return Ok(());
            }
            continue;
        }
        apply_op(plan, op, sys).map_err(|errno| Failure { index, errno })?;
    }
    Ok(())
}

fn apply_op(plan: &Plan, op: &Op, sys: &mut dyn Syscalls) -> SysResult {
    match op {
        Op::MakeRootPrivate => sys.mount(None, c"/", None, ms::REC | ms::PRIVATE, None),
        Op::Chdir(p) => sys.chdir(p),
        Op::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => sys.mount(
            source.as_deref(),
            target,
            fstype.as_deref(),
            *flags,
            data.as_deref(),
        ),
        Op::OpenTree {
            slot,
            source,
            recursive,
        } => sys.open_tree(*slot, source, *recursive),
        Op::PivotRoot { new_root } => {
            // pivot_root(".", ".") stacks the old root on the new one; the
            // lazy unmount then drops it without needing a directory for it.
            sys.chdir(new_root)?;
            sys.pivot_root(c".", c".")?;
            sys.umount(c".", true)?;
            sys.chdir(c"/")
        }
        Op::Ensure {
            prefixes,
            kind,
            report,
            ..
        } => ensure(sys, prefixes, *kind, *report),
        Op::MoveMount { slot, target } => sys.move_mount(*slot, target),
        Op::Mask(p) => match sys.stat(p) {
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e),
            Ok(st) if st.kind == FileKind::Dir => {
                sys.mount(Some(c"tmpfs"), p, Some(c"tmpfs"), ms::RDONLY, None)
            }
            Ok(_) => sys.mount(Some(c"/dev/null"), p, None, ms::BIND, None),
        },
        Op::ReadOnly(p) => match sys.stat(p) {
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => {
                sys.mount(Some(p), p, None, ms::BIND | ms::REC, None)?;
                let flags =
                    ms::BIND | ms::REMOUNT | ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC;
                sys.mount(None, p, None, flags, None)
            }
        },
        Op::Symlink { target, link } => sys.symlink(target, link),
        Op::Hostname(h) => sys.sethostname(h),
        Op::LoopbackUp => sys.loopback_up(),
        Op::Rlimit {
            resource,
            soft,
            hard,
        } => sys.setrlimit(*resource, *soft, *hard),
        Op::Umask(m) => {
            sys.umask(*m);
            Ok(())
        }
        Op::KeepCaps(k) => sys.set_keep_caps(*k),
        Op::LimitBounding { keep, last_cap } => {
            for cap in 0..=*last_cap {
                if keep & (1 << cap) == 0 {
                    sys.drop_bounding_cap(cap)?;
                }
            }
            Ok(())
        }
        Op::SetGroups(_) => sys.set_groups(&plan.groups),
        Op::SetGid(g) => sys.set_gid(*g),
        Op::SetUid(u) => sys.set_uid(*u),
        Op::SetCapabilities {
            effective,
            permitted,
            inheritable,
        } => sys.set_capabilities(*effective, *permitted, *inheritable),
        Op::Ambient(mask) => {
            sys.clear_ambient()?;
            for cap in 0..64 {
                if mask & (1 << cap) != 0 {
                    sys.raise_ambient(cap)?;
                }
            }
            Ok(())
        }
        Op::NoNewPrivs => sys.set_no_new_privs(),
        Op::Exec { candidates, .. } => exec(sys, candidates),
        Op::JoinCgroup(p) => sys.join_cgroup(p),
        Op::OpenFd { slot, path } => sys.open_fd(*slot, path),
        Op::SetNs { slot, nstype } => sys.setns(*slot, *nstype),
        Op::ChrootTo(slot) => {
            sys.fchdir(*slot)?;
            sys.chroot(c".")
        }
        // Handled by `apply`.
        Op::ForkSibling => Err(Errno::INVAL),
        Op::NewSession => sys.setsid(),
        Op::ControllingTerminal => sys.set_controlling_terminal(),
    }
}

/// `mkdir -p` of the parents, then the mount point itself. Each created
/// entry is reported, and its parent's times are put back so that a parent
/// that only gained the stub shows no change once the stub is removed.
fn ensure(
    sys: &mut dyn Syscalls,
    prefixes: &[std::ffi::CString],
    kind: FileKind,
    report: bool,
) -> SysResult {
    for (i, p) in prefixes.iter().enumerate() {
        match sys.stat(p) {
            Ok(_) => continue,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
        let parent: &CStr = if i == 0 { c"/" } else { &prefixes[i - 1] };
        let parent_stat = sys.stat(parent)?;
        if i + 1 == prefixes.len() && kind == FileKind::File {
            sys.create_file(p, 0o755)?;
        } else {
            sys.mkdir(p, 0o755)?;
        }
        if report {
            sys.report_created(p)?;
            sys.set_times(parent, &parent_stat)?;
        }
    }
    Ok(())
}

/// Tries each candidate like `execvp`: on to the next when the file is
/// missing or not executable; the error reported is `EACCES` if some
/// candidate was found but not executable, else the last one.
fn exec(sys: &mut dyn Syscalls, candidates: &[std::ffi::CString]) -> SysResult {
    let mut err = Errno::NOENT;
    let mut denied = false;
    for c in candidates {
        match sys.exec(c) {
            Ok(()) => return Ok(()),
            Err(e @ (Errno::NOENT | Errno::NOTDIR | Errno::ACCESS)) => {
                denied |= e == Errno::ACCESS;
                err = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(if denied { Errno::ACCESS } else { err })
}
