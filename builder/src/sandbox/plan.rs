//! An OCI runtime config turned into the embedded runtime's setup plan: the
//! operations, in order, that the child performs through
//! [`Syscalls`](super::syscalls::Syscalls) between `clone3` and `execve`.
//!
//! Everything the child needs is computed here, in the parent, so the
//! child only issues system calls (see the note in `syscalls.rs`).

use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use rustix::process::{Gid, Resource};

use super::spec::{capability_mask, clean_path, RootfsMount};
use super::syscalls::FileKind;
use super::{Result, SandboxError};

/// `MS_*` mount flags (stable kernel ABI).
pub mod ms {
    #![allow(missing_docs)]
    pub const RDONLY: u64 = 1;
    pub const NOSUID: u64 = 2;
    pub const NODEV: u64 = 4;
    pub const NOEXEC: u64 = 8;
    pub const SYNCHRONOUS: u64 = 16;
    pub const REMOUNT: u64 = 32;
    pub const MANDLOCK: u64 = 64;
    pub const DIRSYNC: u64 = 128;
    pub const NOSYMFOLLOW: u64 = 256;
    pub const NOATIME: u64 = 1024;
    pub const NODIRATIME: u64 = 2048;
    pub const BIND: u64 = 4096;
    pub const REC: u64 = 16384;
    pub const PRIVATE: u64 = 1 << 18;
    pub const RELATIME: u64 = 1 << 21;
    pub const STRICTATIME: u64 = 1 << 24;
}

/// `CLONE_NEW*` namespace flags (stable kernel ABI).
pub mod clone {
    #![allow(missing_docs)]
    pub const NEWNS: u64 = 0x0002_0000;
    pub const NEWUTS: u64 = 0x0400_0000;
    pub const NEWIPC: u64 = 0x0800_0000;
    pub const NEWPID: u64 = 0x2000_0000;
    pub const NEWNET: u64 = 0x4000_0000;
}

use super::rundir::MAX_MOUNT_DATA;

/// One setup operation of the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Makes every mount private, so nothing of the setup reaches the host.
    MakeRootPrivate,
    /// `chdir`.
    Chdir(CString),
    /// A plain `mount(2)`.
    Mount {
        /// Source.
        source: Option<CString>,
        /// Target.
        target: CString,
        /// File system type.
        fstype: Option<CString>,
        /// `MS_*` flags.
        flags: u64,
        /// File-system-specific options.
        data: Option<CString>,
    },
    /// Clones the host mount at `source` into a slot, before the host's
    /// tree is detached by the pivot.
    OpenTree {
        /// Slot number.
        slot: usize,
        /// Host path.
        source: CString,
        /// With submounts (`rbind`).
        recursive: bool,
    },
    /// Makes `new_root` the root and detaches the old root entirely.
    PivotRoot {
        /// The mounted rootfs.
        new_root: CString,
    },
    /// Creates `path` (and missing parents) if it does not exist, as a
    /// mount point of `kind`; reports what it created when `report`.
    Ensure {
        /// The path.
        path: CString,
        /// The path's ancestors, `/a`, `/a/b`, ..., then the path itself.
        prefixes: Vec<CString>,
        /// Directory or file.
        kind: FileKind,
        /// Whether what is created lands in the rootfs (not in a tmpfs).
        report: bool,
    },
    /// Moves the tree of a slot onto `target`.
    MoveMount {
        /// Slot number.
        slot: usize,
        /// Target.
        target: CString,
    },
    /// Hides `path`: a read-only tmpfs on a directory, `/dev/null` on a file.
    Mask(CString),
    /// Makes `path` read-only (a bind onto itself, remounted read-only).
    ReadOnly(CString),
    /// `symlink(target, link)`.
    Symlink {
        /// Where the link points.
        target: CString,
        /// The link.
        link: CString,
    },
    /// `sethostname`.
    Hostname(CString),
    /// Loopback up in the new network namespace.
    LoopbackUp,
    /// `setrlimit`.
    Rlimit {
        /// Which limit.
        resource: Resource,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
    },
    /// `umask`.
    Umask(u32),
    /// `PR_SET_KEEPCAPS`.
    KeepCaps(bool),
    /// Drops every capability not in the mask from the bounding set.
    LimitBounding {
        /// Capabilities kept.
        keep: u64,
        /// The highest capability number of the running kernel.
        last_cap: u32,
    },
    /// `setgroups`.
    SetGroups(Vec<u32>),
    /// `setresgid`.
    SetGid(u32),
    /// `setresuid`.
    SetUid(u32),
    /// `capset`.
    SetCapabilities {
        /// Effective set.
        effective: u64,
        /// Permitted set.
        permitted: u64,
        /// Inheritable set.
        inheritable: u64,
    },
    /// Clears the ambient set, then raises the capabilities of the mask.
    Ambient(u64),
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Joins a cgroup (its `cgroup.procs`), before anything else runs.
    JoinCgroup(CString),
    /// Opens a file of another process (namespace, root dir) into a slot.
    OpenFd {
        /// Slot number.
        slot: usize,
        /// The path.
        path: CString,
    },
    /// `setns` into the namespace opened in `slot`.
    SetNs {
        /// Slot number.
        slot: usize,
        /// The `CLONE_NEW*` flag of the namespace.
        nstype: u64,
    },
    /// `fchdir` to the directory opened in `slot`, then `chroot(".")`.
    ChrootTo(usize),
    /// Forks into the joined PID namespace; the forking process reports the
    /// new pid and exits, the new one (a child of the caller's parent) goes on.
    ForkSibling,
    /// `setsid`: a session of its own.
    NewSession,
    /// Standard input (a pty) becomes the controlling terminal.
    ControllingTerminal,
    /// `execve` of the first candidate path that can be executed.
    Exec {
        /// `args[0]`, for messages.
        program: String,
        /// Paths to try, in order (`PATH` lookup done in advance).
        candidates: Vec<CString>,
    },
}

impl Op {
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Op::MakeRootPrivate => "make / rprivate".into(),
            Op::Chdir(p) => format!("chdir {}", s(p)),
            Op::Mount { fstype, target, .. } => format!(
                "mount {} on {}",
                fstype.as_ref().map(s).unwrap_or_else(|| "bind".into()),
                s(target)
            ),
            Op::OpenTree { source, .. } => format!("open_tree {}", s(source)),
            Op::PivotRoot { new_root } => format!("pivot_root {}", s(new_root)),
            Op::Ensure { path, .. } => format!("create mount point {}", s(path)),
            Op::MoveMount { target, .. } => format!("bind mount on {}", s(target)),
            Op::Mask(p) => format!("mask {}", s(p)),
            Op::ReadOnly(p) => format!("make {} read-only", s(p)),
            Op::Symlink { link, .. } => format!("symlink {}", s(link)),
            Op::Hostname(h) => format!("sethostname {}", s(h)),
            Op::LoopbackUp => "set loopback up".into(),
            Op::Rlimit { resource, .. } => format!("setrlimit {resource:?}"),
            Op::Umask(m) => format!("umask {m:o}"),
            Op::KeepCaps(k) => format!("keep capabilities {k}"),
            Op::LimitBounding { .. } => "limit the capability bounding set".into(),
            Op::SetGroups(g) => format!("setgroups {g:?}"),
            Op::SetGid(g) => format!("setgid {g}"),
            Op::SetUid(u) => format!("setuid {u}"),
            Op::SetCapabilities { .. } => "set capabilities".into(),
            Op::Ambient(_) => "set ambient capabilities".into(),
            Op::NoNewPrivs => "set no_new_privs".into(),
            Op::Exec { program, .. } => format!("exec {program}"),
            Op::JoinCgroup(p) => format!("join the cgroup of {}", s(p)),
            Op::OpenFd { path, .. } => format!("open {}", s(path)),
            Op::SetNs { nstype, .. } => format!("setns {nstype:#x}"),
            Op::ChrootTo(_) => "chroot into the container's root".into(),
            Op::ForkSibling => "fork into the container's PID namespace".into(),
            Op::NewSession => "setsid".into(),
            Op::ControllingTerminal => "set the controlling terminal".into(),
        }
    }
}

/// The setup plan of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `CLONE_NEW*` flags of the child.
    pub clone_flags: u64,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// Number of tree slots the operations use.
    pub slots: usize,
    /// `execve`'s argv.
    pub args: Vec<CString>,
    /// `execve`'s envp.
    pub env: Vec<CString>,
    /// Groups for `setgroups`, as the syscall wants them.
    pub groups: Vec<Gid>,
}

pub(crate) fn cstr(s: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(s.as_ref())
        .map_err(|_| SandboxError::InvalidSpec("a path or string contains NUL".into()))
}

pub(crate) fn path_cstr(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    cstr(p.as_os_str().as_bytes())
}

/// Splits OCI mount options into `MS_*` flags and file-system data.
pub fn parse_options(options: &[String]) -> (u64, Vec<String>) {
    let mut flags = 0u64;
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (ms::RDONLY, 0),
            "rw" => (0, ms::RDONLY),
            "nosuid" => (ms::NOSUID, 0),
            "suid" => (0, ms::NOSUID),
            "nodev" => (ms::NODEV, 0),
            "dev" => (0, ms::NODEV),
            "noexec" => (ms::NOEXEC, 0),
            "exec" => (0, ms::NOEXEC),
            "sync" => (ms::SYNCHRONOUS, 0),
            "async" => (0, ms::SYNCHRONOUS),
            "dirsync" => (ms::DIRSYNC, 0),
            "mand" => (ms::MANDLOCK, 0),
            "nomand" => (0, ms::MANDLOCK),
            "noatime" => (ms::NOATIME, 0),
            "atime" => (0, ms::NOATIME),
            "nodiratime" => (ms::NODIRATIME, 0),
            "diratime" => (0, ms::NODIRATIME),
            "relatime" => (ms::RELATIME, 0),
            "norelatime" => (0, ms::RELATIME),
            "strictatime" => (ms::STRICTATIME, 0),
            "nostrictatime" => (0, ms::STRICTATIME),
            "nosymfollow" => (ms::NOSYMFOLLOW, 0),
            "bind" => (ms::BIND, 0),
            "rbind" => (ms::BIND | ms::REC, 0),
            // Propagation of the container's mounts: everything is private here.
            "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" => (0, 0),
            other => {
                data.push(other.to_string());
                (0, 0)
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data)
}

/// The ancestors of a clean absolute path, then the path: `/a/b` → `/a`, `/a/b`.
fn prefixes(path: &str) -> Result<Vec<CString>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        out.push(cstr(&cur)?);
    }
    Ok(out)
}

fn ensure(path: &str, kind: FileKind, report: bool) -> Result<Op> {
    Ok(Op::Ensure {
        path: cstr(path)?,
        prefixes: prefixes(path)?,
        kind,
        report,
    })
}

pub(crate) fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') || dir == "/")
}

fn resource(t: PosixRlimitType) -> Result<Resource> {
    use PosixRlimitType as T;
    Ok(match t {
        T::RlimitCpu => Resource::Cpu,
        T::RlimitFsize => Resource::Fsize,
        T::RlimitData => Resource::Data,
        T::RlimitStack => Resource::Stack,
        T::RlimitCore => Resource::Core,
        T::RlimitRss => Resource::Rss,
        T::RlimitNproc => Resource::Nproc,
        T::RlimitNofile => Resource::Nofile,
        T::RlimitMemlock => Resource::Memlock,
        T::RlimitAs => Resource::As,
        T::RlimitLocks => Resource::Locks,
        T::RlimitSigpending => Resource::Sigpending,
        T::RlimitMsgqueue => Resource::Msgqueue,
        T::RlimitNice => Resource::Nice,
        T::RlimitRtprio => Resource::Rtprio,
        T::RlimitRttime => Resource::Rttime,
    })
}

/// The embedded runtime has no cgroups. Of `linux.resources` it takes only
/// device rules that deny by default (docker's), and enforces them without
/// a device cgroup: every mount but the bound device nodes and devpts is
/// `nodev`, so nodes a step creates can be made (for the layer) but not
/// opened. Returns the extra mount flag (`MS_NODEV` or 0).
fn device_policy(resources: Option<&oci_spec::runtime::LinuxResources>) -> Result<u64> {
    let Some(r) = resources else { return Ok(0) };
    let mut rest = r.clone();
    rest.set_devices(None);
    if rest != oci_spec::runtime::LinuxResources::default() {
        return Err(SandboxError::Unsupported("cgroup resource limits".into()));
    }
    let rules = r.devices().as_deref().unwrap_or_default();
    let Some(first) = rules.first() else {
        return Ok(0);
    };
    let deny_all = !first.allow()
        && first.major().is_none()
        && first.minor().is_none()
        && !matches!(first.typ(), Some(t) if t != oci_spec::runtime::LinuxDeviceType::A);
    if !deny_all {
        return Err(SandboxError::Unsupported(
            "device rules that do not deny by default".into(),
        ));
    }
    Ok(ms::NODEV)
}

/// Where a bind source is a directory (a directory mount point) or not.
pub type SourceKind<'a> = &'a dyn Fn(&Path) -> FileKind;

/// Turns `spec` into the child's plan. `lowers` are the overlay's lower
/// dirs as they appear in the mount data (shortened by the caller when the
/// full paths do not fit, then relative to `lower_base`); `source_kind`
/// tells directories from files among the bind sources; `last_cap` is the
/// kernel's highest capability number.
pub fn build(
    spec: &Spec,
    rootfs: &RootfsMount,
    lowers: &[String],
    lower_base: Option<&Path>,
    source_kind: SourceKind<'_>,
    last_cap: u32,
) -> Result<Plan> {
    let unsupported = |what: &str| Err(SandboxError::Unsupported(what.to_string()));
    if spec.hooks().is_some() {
        return unsupported("hooks");
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SandboxError::InvalidSpec("no process".into()))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| SandboxError::InvalidSpec("no linux section".into()))?;
    if linux.seccomp().is_some() || linux.uid_mappings().is_some() {
        return unsupported("seccomp or user namespaces");
    }
    let nodev = device_policy(linux.resources().as_ref())?;
    if process.apparmor_profile().is_some() || process.selinux_label().is_some() {
        return unsupported("AppArmor or SELinux labels");
    }
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or_else(|| SandboxError::InvalidSpec("no root".into()))?;

    let mut clone_flags = 0;
    let mut join_net = None;
    for ns in linux.namespaces().iter().flatten() {
        if let Some(path) = ns.path() {
            if ns.typ() != LinuxNamespaceType::Network {
                return unsupported("joining existing namespaces other than the network's");
            }
            join_net = Some(path_cstr(path)?);
            continue;
        }
        clone_flags |= match ns.typ() {
            LinuxNamespaceType::Pid => clone::NEWPID,
            LinuxNamespaceType::Ipc => clone::NEWIPC,
            LinuxNamespaceType::Uts => clone::NEWUTS,
            LinuxNamespaceType::Mount => clone::NEWNS,
            LinuxNamespaceType::Network => clone::NEWNET,
            other => return unsupported(&format!("{other:?} namespaces")),
        };
    }
    if clone_flags & clone::NEWNS == 0 {
        return unsupported("running without a mount namespace");
    }

    let mut ops = Vec::new();
    // Slot 0 holds the network namespace to join; joined first, so that the /sys mounted
    // below shows its interfaces.
    let mut slots = 0;
    if let Some(path) = join_net {
        ops.push(Op::OpenFd { slot: 0, path });
        ops.push(Op::SetNs {
            slot: 0,
            nstype: clone::NEWNET,
        });
        slots = 1;
    }
    ops.push(Op::MakeRootPrivate);
    if let Some(base) = lower_base {
        ops.push(Op::Chdir(path_cstr(base)?));
    }
    let data = rootfs.options(lowers);
    if data.len() > MAX_MOUNT_DATA {
        return Err(SandboxError::InvalidSpec(format!(
            "{} lower dirs do not fit in the overlay mount options",
            rootfs.lowers.len()
        )));
    }
    ops.push(Op::Mount {
        source: Some(cstr("overlay")?),
        target: path_cstr(&rootfs.target)?,
        fstype: Some(cstr("overlay")?),
        flags: nodev,
        data: Some(cstr(data)?),
    });

    // Bind sources and devices are opened while the host's tree is still
    // reachable; after the pivot nothing of it is.
    let mut mount_slots = Vec::new();
    let mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        if m.typ().as_deref() == Some("bind") {
            let source = m
                .source()
                .as_ref()
                .ok_or_else(|| SandboxError::InvalidSpec("bind mount without source".into()))?;
            let (flags, _) = parse_options(m.options().as_deref().unwrap_or_default());
            ops.push(Op::OpenTree {
                slot: slots,
                source: path_cstr(source)?,
                recursive: flags & ms::REC != 0,
            });
            mount_slots.push(Some(slots));
            slots += 1;
        } else {
            mount_slots.push(None);
        }
    }
    let devices = linux.devices().clone().unwrap_or_default();
    let mut device_slots = Vec::new();
    for d in &devices {
        ops.push(Op::OpenTree {
            slot: slots,
            source: path_cstr(d.path())?,
            recursive: false,
        });
        device_slots.push(slots);
        slots += 1;
    }

    ops.push(Op::PivotRoot {
        new_root: path_cstr(&root)?,
    });

    let mut mounted: Vec<String> = Vec::new();
    for (m, slot) in mounts.iter().zip(&mount_slots) {
        let dest = clean_path(&m.destination().to_string_lossy());
        let (flags, data) = parse_options(m.options().as_deref().unwrap_or_default());
        let report = !mounted.iter().any(|d| is_under(&dest, d));
        match slot {
            Some(slot) => {
                let source = m.source().as_deref().unwrap_or(Path::new("/"));
                ops.push(ensure(&dest, source_kind(source), report)?);
                ops.push(Op::MoveMount {
                    slot: *slot,
                    target: cstr(&dest)?,
                });
                let extra = flags & (ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC) | nodev;
                if extra != 0 {
                    ops.push(Op::Mount {
                        source: None,
                        target: cstr(&dest)?,
                        fstype: None,
                        flags: ms::BIND | ms::REMOUNT | extra,
                        data: None,
                    });
                }
            }
            None => {
                let typ = m.typ().clone().ok_or_else(|| {
                    SandboxError::InvalidSpec(format!("mount {dest} has no type"))
                })?;
                if typ == "cgroup" || typ == "cgroup2" {
                    return unsupported("cgroup mounts");
                }
                ops.push(ensure(&dest, FileKind::Dir, report)?);
                let source = m.source().as_deref().map(path_cstr).transpose()?;
                // devpts holds the pseudo-terminals: it must allow devices.
                let nodev = if typ == "devpts" { 0 } else { nodev };
                ops.push(Op::Mount {
                    source: Some(source.unwrap_or(cstr(&typ)?)),
                    target: cstr(&dest)?,
                    fstype: Some(cstr(&typ)?),
                    flags: flags | nodev,
                    data: (!data.is_empty())
                        .then(|| cstr(data.join(",")))
                        .transpose()?,
                });
            }
        }
        mounted.push(dest);
    }

    for (d, slot) in devices.iter().zip(device_slots) {
        let dest = clean_path(&d.path().to_string_lossy());
        let report = !mounted.iter().any(|m| is_under(&dest, m));
        ops.push(ensure(&dest, FileKind::File, report)?);
        ops.push(Op::MoveMount {
            slot,
            target: cstr(&dest)?,
        });
    }
    // As runc does when /dev is a mount of its own.
    if mounted.iter().any(|m| m == "/dev") {
        for (target, link) in [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
            ("pts/ptmx", "/dev/ptmx"),
        ] {
            ops.push(Op::Symlink {
                target: cstr(target)?,
                link: cstr(link)?,
            });
        }
    }
    for p in linux.masked_paths().iter().flatten() {
        ops.push(Op::Mask(cstr(clean_path(p))?));
    }
    for p in linux.readonly_paths().iter().flatten() {
        ops.push(Op::ReadOnly(cstr(clean_path(p))?));
    }

    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if clone_flags & clone::NEWUTS == 0 {
            return unsupported("a hostname without a UTS namespace");
        }
        ops.push(Op::Hostname(cstr(h)?));
    }
    if clone_flags & clone::NEWNET != 0 {
        ops.push(Op::LoopbackUp);
    }
    for r in process.rlimits().iter().flatten() {
        ops.push(Op::Rlimit {
            resource: resource(r.typ())?,
            soft: r.soft(),
            hard: r.hard(),
        });
    }

    // The working directory is created if missing, as BuildKit does, and it
    // stays in the layer like there.
    let cwd = clean_path(&process.cwd().to_string_lossy());
    ops.push(ensure(&cwd, FileKind::Dir, false)?);
    ops.push(Op::Chdir(cstr(&cwd)?));

    let user = process.user();
    ops.push(Op::Umask(user.umask().unwrap_or(0o022)));
    let caps = process.capabilities().clone().unwrap_or_default();
    let bounding = capability_mask(caps.bounding().as_ref())?;
    ops.push(Op::KeepCaps(true));
    ops.push(Op::LimitBounding {
        keep: bounding,
        last_cap,
    });
    let groups = user.additional_gids().clone().unwrap_or_default();
    ops.push(Op::SetGroups(groups.clone()));
    ops.push(Op::SetGid(user.gid()));
    ops.push(Op::SetUid(user.uid()));
    ops.push(Op::KeepCaps(false));
    ops.push(Op::SetCapabilities {
        effective: capability_mask(caps.effective().as_ref())?,
        permitted: capability_mask(caps.permitted().as_ref())?,
        inheritable: capability_mask(caps.inheritable().as_ref())?,
    });
    ops.push(Op::Ambient(capability_mask(caps.ambient().as_ref())?));
    if process.no_new_privileges().unwrap_or(false) {
        ops.push(Op::NoNewPrivs);
    }

    let args = process
        .args()
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| SandboxError::InvalidSpec("no process args".into()))?;
    let env = process.env().clone().unwrap_or_default();
    let program = args[0].clone();
    ops.push(Op::Exec {
        candidates: exec_candidates(&program, &env)?,
        program,
    });

    Ok(Plan {
        clone_flags,
        ops,
        slots,
        args: args.iter().map(cstr).collect::<Result<_>>()?,
        env: env.iter().map(cstr).collect::<Result<_>>()?,
        groups: groups.into_iter().map(Gid::from_raw).collect(),
    })
}

/// The paths `execvp` would try for `program` with the process's `PATH`
/// (docker's default `PATH` when the env has none).
pub(crate) fn exec_candidates(program: &str, env: &[String]) -> Result<Vec<CString>> {
    if program.contains('/') {
        return Ok(vec![cstr(program)?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| {
            let dir = if dir.is_empty() { "." } else { dir };
            cstr(format!("{}/{program}", dir.trim_end_matches('/')))
        })
        .collect()
}
