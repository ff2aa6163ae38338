//! The system calls of the container setup, behind a trait: [`Linux`] issues
//! them, [`Recording`] records them for tests.
//!
//! The trait is shaped so that the real implementation never allocates:
//! [`Linux`] runs in a child made with a raw `clone3` from a possibly
//! multi-threaded parent, where a malloc lock held by another thread would
//! never be released. Every path arrives as a `&CStr` built by the parent.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};
use rustix::process::{Gid, Resource, Rlimit, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

/// The result of one system call.
pub type SysResult<T = ()> = Result<T, Errno>;

/// The kind of a file, as far as the setup cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file (or anything else a file can be bind-mounted on).
    File,
}

/// What the setup needs from `stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Directory or not.
    pub kind: FileKind,
    /// Access time (seconds, nanoseconds).
    pub atime: (i64, i64),
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
}

/// The system calls of the container setup, in the terms of the kernel.
pub trait Syscalls {
    /// `mount(2)`, `flags` as `MS_*` bits.
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: u64,
        data: Option<&CStr>,
    ) -> SysResult;
    /// `umount2(2)`, lazily (`MNT_DETACH`) if `detach`.
    fn umount(&mut self, target: &CStr, detach: bool) -> SysResult;
    /// `open_tree(OPEN_TREE_CLONE)`: a detached copy of the mount at `path`
    /// (recursively if `recursive`), kept in `slot` for a later [`Syscalls::move_mount`].
    fn open_tree(&mut self, slot: usize, path: &CStr, recursive: bool) -> SysResult;
    /// `move_mount(2)` of the tree in `slot` onto `target`.
    fn move_mount(&mut self, slot: usize, target: &CStr) -> SysResult;
    /// `pivot_root(2)`.
    fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> SysResult;
    /// `chdir(2)`.
    fn chdir(&mut self, path: &CStr) -> SysResult;
    /// `stat(2)`, following symlinks.
    fn stat(&mut self, path: &CStr) -> SysResult<FileStat>;
    /// `mkdir(2)`.
    fn mkdir(&mut self, path: &CStr, mode: u32) -> SysResult;
    /// Creates an empty regular file (`O_CREAT|O_EXCL`).
    fn create_file(&mut self, path: &CStr, mode: u32) -> SysResult;
    /// `utimensat(2)`: restores the times of `stat` on `path`.
    fn set_times(&mut self, path: &CStr, stat: &FileStat) -> SysResult;
    /// `symlink(2)`: `link` pointing to `target`.
    fn symlink(&mut self, target: &CStr, link: &CStr) -> SysResult;
    /// Tells the parent that the setup created `path` in the rootfs (a mount
    /// point stub, to be removed from the upper dir after the run).
    fn report_created(&mut self, path: &CStr) -> SysResult;
    /// `sethostname(2)`.
    fn sethostname(&mut self, name: &CStr) -> SysResult;
    /// Sets the loopback interface up (`SIOCSIFFLAGS`).
    fn loopback_up(&mut self) -> SysResult;
    /// `setrlimit(2)`.
    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> SysResult;
    /// `umask(2)`.
    fn umask(&mut self, mask: u32);
    /// `prctl(PR_SET_KEEPCAPS)`.
    fn set_keep_caps(&mut self, keep: bool) -> SysResult;
    /// `prctl(PR_CAPBSET_DROP, cap)`.
    fn drop_bounding_cap(&mut self, cap: u32) -> SysResult;
    /// `setgroups(2)`.
    fn set_groups(&mut self, gids: &[Gid]) -> SysResult;
    /// `setresgid(gid, gid, gid)`.
    fn set_gid(&mut self, gid: u32) -> SysResult;
    /// `setresuid(uid, uid, uid)`.
    fn set_uid(&mut self, uid: u32) -> SysResult;
    /// `capset(2)`, sets as bit masks.
    fn set_capabilities(&mut self, effective: u64, permitted: u64, inheritable: u64) -> SysResult;
    /// `prctl(PR_CAP_AMBIENT_CLEAR_ALL)`.
    fn clear_ambient(&mut self) -> SysResult;
    /// `prctl(PR_CAP_AMBIENT_RAISE, cap)`.
    fn raise_ambient(&mut self, cap: u32) -> SysResult;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&mut self) -> SysResult;
    /// `execve(2)` of `path` with the plan's args and env; returns only on
    /// failure (a test double returns `Ok`).
    fn exec(&mut self, path: &CStr) -> SysResult;
    /// Moves this process into the cgroup whose `cgroup.procs` is `procs`
    /// (writes `0` to it).
    fn join_cgroup(&mut self, procs: &CStr) -> SysResult;
    /// `open(path, O_RDONLY|O_CLOEXEC)` into `slot`: a namespace file or a
    /// directory of another process, for [`Syscalls::setns`] and
    /// [`Syscalls::fchdir`].
    fn open_fd(&mut self, slot: usize, path: &CStr) -> SysResult;
    /// `setns(2)` into the namespace file of `slot` (`nstype`: a `CLONE_NEW*` flag).
    fn setns(&mut self, slot: usize, nstype: u64) -> SysResult;
    /// `fchdir(2)` to the directory of `slot`.
    fn fchdir(&mut self, slot: usize) -> SysResult;
    /// `chroot(2)`.
    fn chroot(&mut self, path: &CStr) -> SysResult;
    /// A fork whose child becomes a child of this process's parent
    /// (`CLONE_PARENT`), entering the PID namespace joined by `setns`.
    /// Returns 0 in the new process, its pid in this one.
    fn fork_sibling(&mut self) -> SysResult<i32>;
    /// Tells the parent the pid of the process made by [`Syscalls::fork_sibling`].
    fn report_pid(&mut self, pid: i32) -> SysResult;
    /// Ends this process at once with `code` (a test double records it and returns).
    fn exit_now(&mut self, code: i32);
    /// `setsid(2)`.
    fn setsid(&mut self) -> SysResult;
    /// `ioctl(0, TIOCSCTTY)`: standard input (a pty) becomes the controlling terminal.
    fn set_controlling_terminal(&mut self) -> SysResult;
}

/// The real system calls.
#[derive(Debug)]
pub struct Linux<'a> {
    slots: Vec<Option<OwnedFd>>,
    report: Option<BorrowedFd<'a>>,
    argv: Vec<*const std::ffi::c_char>,
    envp: Vec<*const std::ffi::c_char>,
}

impl<'a> Linux<'a> {
    /// For the host side: no tree slots, no reports, nothing to execute.
    pub fn host() -> Linux<'static> {
        Linux {
            slots: Vec::new(),
            report: None,
            argv: vec![std::ptr::null()],
            envp: vec![std::ptr::null()],
        }
    }

    /// For a child: `slots` tree slots, creations reported on `report`, and
    /// the `execve` argument arrays of `args` and `env` (which must outlive it).
    pub(crate) fn child(
        slots: usize,
        report: BorrowedFd<'a>,
        args: &'a [CString],
        env: &'a [CString],
    ) -> Linux<'a> {
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Linux {
            slots: (0..slots).map(|_| None).collect(),
            report: Some(report),
            argv: ptrs(args),
            envp: ptrs(env),
        }
    }
}

fn times(stat: &rustix::fs::Stat) -> FileStat {
    let kind =
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory {
            FileKind::Dir
        } else {
            FileKind::File
        };
    FileStat {
        kind,
        atime: (stat.st_atime, stat.st_atime_nsec as i64),
        mtime: (stat.st_mtime, stat.st_mtime_nsec as i64),
    }
}

/// Writes all of `buf` to `fd` (a pipe), without allocating.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> SysResult {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return Err(Errno::PIPE),
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Formats `/proc/self/fd/N` into `buf`, without allocating.
fn proc_fd_path<'b>(fd: BorrowedFd<'_>, buf: &'b mut [u8; 40]) -> &'b CStr {
    use std::os::fd::AsRawFd;
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.as_raw_fd().unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/")
}

impl Syscalls for Linux<'_> {
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: u64,
        data: Option<&CStr>,
    ) -> SysResult {
        // The kernel ignores source and type where they do not apply (bind,
        // remount, propagation); empty strings stand in for NULL there.
        rustix::mount::mount(
            source.unwrap_or(c""),
            target,
            fstype.unwrap_or(c""),
            MountFlags::from_bits_retain(flags as _),
            data,
        )
    }

    fn umount(&mut self, target: &CStr, detach: bool) -> SysResult {
        let flags = if detach {
            UnmountFlags::DETACH
        } else {
            UnmountFlags::empty()
        };
        rustix::mount::unmount(target, flags)
    }

    fn open_tree(&mut self, slot: usize, path: &CStr, recursive: bool) -> SysResult {
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
        if recursive {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let fd = rustix::mount::open_tree(CWD, path, flags)?;
        *self.slots.get_mut(slot).ok_or(Errno::BADF)? = Some(fd);
        Ok(())
    }

    fn move_mount(&mut self, slot: usize, target: &CStr) -> SysResult {
        let fd = self
            .slots
            .get_mut(slot)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        rustix::mount::move_mount(
            fd.as_fd(),
            c"",
            CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
    }

    fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> SysResult {
        rustix::process::pivot_root(new_root, put_old)
    }

    fn chdir(&mut self, path: &CStr) -> SysResult {
        rustix::process::chdir(path)
    }

    fn stat(&mut self, path: &CStr) -> SysResult<FileStat> {
        rustix::fs::stat(path).map(|s| times(&s))
    }

    fn mkdir(&mut self, path: &CStr, mode: u32) -> SysResult {
        rustix::fs::mkdir(path, Mode::from_raw_mode(mode))
    }

    fn create_file(&mut self, path: &CStr, mode: u32) -> SysResult {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
        rustix::fs::open(path, flags, Mode::from_raw_mode(mode)).map(drop)
    }

    fn set_times(&mut self, path: &CStr, stat: &FileStat) -> SysResult {
        let ts = |(tv_sec, tv_nsec): (i64, i64)| Timespec {
            tv_sec,
            tv_nsec: tv_nsec as _,
        };
        let stamps = Timestamps {
            last_access: ts(stat.atime),
            last_modification: ts(stat.mtime),
        };
        rustix::fs::utimensat(CWD, path, &stamps, rustix::fs::AtFlags::empty())
    }

    fn symlink(&mut self, target: &CStr, link: &CStr) -> SysResult {
        rustix::fs::symlink(target, link)
    }

    fn report_created(&mut self, path: &CStr) -> SysResult {
        let Some(report) = self.report else {
            return Ok(());
        };
        // The canonical path (symlinks resolved) is what exists in the upper
        // dir; /proc may not be mounted yet, then the path is taken as given.
        let mut link = [0u8; 4096];
        let mut fdpath = [0u8; 40];
        let canonical = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .and_then(|fd| {
            let p = proc_fd_path(fd.as_fd(), &mut fdpath);
            rustix::fs::readlinkat_raw(CWD, p, &mut link[..]).ok()
        });
        let bytes = match canonical {
            Some(n) if n < link.len() && link[0] == b'/' => &link[..n],
            _ => path.to_bytes(),
        };
        let len = (bytes.len() as u16).to_le_bytes();
        write_all(report, &[b'S', len[0], len[1]])?;
        write_all(report, bytes)
    }

    fn sethostname(&mut self, name: &CStr) -> SysResult {
        rustix::system::sethostname(name.to_bytes())
    }

    fn loopback_up(&mut self) -> SysResult {
        super::spawn::loopback_up()
    }

    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> SysResult {
        rustix::process::setrlimit(
            resource,
            Rlimit {
                current: Some(soft),
                maximum: Some(hard),
            },
        )
    }

    fn umask(&mut self, mask: u32) {
        rustix::process::umask(Mode::from_raw_mode(mask));
    }

    fn set_keep_caps(&mut self, keep: bool) -> SysResult {
        rustix::thread::set_keep_capabilities(keep)
    }

    fn drop_bounding_cap(&mut self, cap: u32) -> SysResult {
        rustix::thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(
            1 << cap,
        ))
    }

    fn set_groups(&mut self, gids: &[Gid]) -> SysResult {
        // The child has one thread, so the thread's groups are the process's.
        rustix::thread::set_thread_groups(gids)
    }

    fn set_gid(&mut self, gid: u32) -> SysResult {
        let g = Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(g, g, g)
    }

    fn set_uid(&mut self, uid: u32) -> SysResult {
        let u = Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(u, u, u)
    }

    fn set_capabilities(&mut self, effective: u64, permitted: u64, inheritable: u64) -> SysResult {
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: CapabilitySet::from_bits_retain(effective),
                permitted: CapabilitySet::from_bits_retain(permitted),
                inheritable: CapabilitySet::from_bits_retain(inheritable),
            },
        )
    }

    fn clear_ambient(&mut self) -> SysResult {
        rustix::thread::clear_ambient_capability_set()
    }

    fn raise_ambient(&mut self, cap: u32) -> SysResult {
        rustix::thread::configure_capability_in_ambient_set(
            CapabilitySet::from_bits_retain(1 << cap),
            true,
        )
    }

    fn set_no_new_privs(&mut self) -> SysResult {
        rustix::thread::set_no_new_privs(true)
    }

    fn exec(&mut self, path: &CStr) -> SysResult {
        Err(super::spawn::execve(path, &self.argv, &self.envp))
    }

    fn join_cgroup(&mut self, procs: &CStr) -> SysResult {
        let fd = rustix::fs::open(procs, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
        write_all(fd.as_fd(), b"0")
    }

    fn open_fd(&mut self, slot: usize, path: &CStr) -> SysResult {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        *self.slots.get_mut(slot).ok_or(Errno::BADF)? = Some(fd);
        Ok(())
    }

    fn setns(&mut self, slot: usize, nstype: u64) -> SysResult {
        use super::plan::clone;
        use rustix::thread::LinkNameSpaceType as T;
        let kind = match nstype {
            clone::NEWNS => T::Mount,
            clone::NEWUTS => T::HostNameAndNISDomainName,
            clone::NEWIPC => T::InterProcessCommunication,
            clone::NEWPID => T::ProcessID,
            clone::NEWNET => T::Network,
            _ => return Err(Errno::INVAL),
        };
        let fd = self
            .slots
            .get(slot)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)?;
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(kind))
    }

    fn fchdir(&mut self, slot: usize) -> SysResult {
        let fd = self
            .slots
            .get(slot)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)?;
        rustix::process::fchdir(fd.as_fd())
    }

    fn chroot(&mut self, path: &CStr) -> SysResult {
        rustix::process::chroot(path)
    }

    fn fork_sibling(&mut self) -> SysResult<i32> {
        super::spawn::fork_sibling()
    }

    fn report_pid(&mut self, pid: i32) -> SysResult {
        let Some(report) = self.report else {
            return Ok(());
        };
        let b = pid.to_le_bytes();
        write_all(report, &[b'P', b[0], b[1], b[2], b[3]])
    }

    fn exit_now(&mut self, code: i32) {
        super::spawn::exit_child(code)
    }

    fn setsid(&mut self) -> SysResult {
        rustix::process::setsid().map(drop)
    }

    fn set_controlling_terminal(&mut self) -> SysResult {
        rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
    }
}

/// One recorded call of [`Recording`], with owned arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Call {
    Mount {
        source: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: u64,
        data: Option<String>,
    },
    Umount {
        target: String,
        detach: bool,
    },
    OpenTree {
        slot: usize,
        path: String,
        recursive: bool,
    },
    MoveMount {
        slot: usize,
        target: String,
    },
    PivotRoot {
        new_root: String,
        put_old: String,
    },
    Chdir(String),
    Stat(String),
    Mkdir(String, u32),
    CreateFile(String, u32),
    SetTimes(String),
    Symlink {
        target: String,
        link: String,
    },
    ReportCreated(String),
    Sethostname(String),
    LoopbackUp,
    Setrlimit(Resource, u64, u64),
    Umask(u32),
    SetKeepCaps(bool),
    DropBoundingCap(u32),
    SetGroups(Vec<u32>),
    SetGid(u32),
    SetUid(u32),
    SetCapabilities {
        effective: u64,
        permitted: u64,
        inheritable: u64,
    },
    ClearAmbient,
    RaiseAmbient(u32),
    SetNoNewPrivs,
    Exec(String),
    JoinCgroup(String),
    OpenFd(usize, String),
    Setns(usize, u64),
    Fchdir(usize),
    Chroot(String),
    ForkSibling,
    ReportPid(i32),
    ExitNow(i32),
    Setsid,
    SetControllingTerminal,
}

/// A test double: records every call and answers `stat` from sets of
/// paths that exist as directories or files, to which `mkdir`,
/// `create_file` and `symlink` add; `exec` succeeds for files only. The
/// call equal to `fail` returns `EPERM`.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// The calls, in order.
    pub calls: Vec<Call>,
    /// Paths that exist as directories.
    pub dirs: std::collections::BTreeSet<String>,
    /// Paths that exist as files.
    pub files: std::collections::BTreeSet<String>,
    /// A call that fails with `EPERM` when made.
    pub fail: Option<Call>,
}

fn s(c: &CStr) -> String {
    c.to_string_lossy().into_owned()
}

impl Recording {
    /// A double in which `dirs` exist.
    pub fn with_dirs<'a>(dirs: impl IntoIterator<Item = &'a str>) -> Recording {
        Recording {
            dirs: dirs.into_iter().map(String::from).collect(),
            ..Recording::default()
        }
    }

    fn record(&mut self, call: Call) -> SysResult {
        let failed = self.fail.as_ref() == Some(&call);
        self.calls.push(call);
        if failed {
            Err(Errno::PERM)
        } else {
            Ok(())
        }
    }
}

impl Syscalls for Recording {
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: u64,
        data: Option<&CStr>,
    ) -> SysResult {
        self.record(Call::Mount {
            source: source.map(s),
            target: s(target),
            fstype: fstype.map(s),
            flags,
            data: data.map(s),
        })
    }
    fn umount(&mut self, target: &CStr, detach: bool) -> SysResult {
        self.record(Call::Umount {
            target: s(target),
            detach,
        })
    }
    fn open_tree(&mut self, slot: usize, path: &CStr, recursive: bool) -> SysResult {
        self.record(Call::OpenTree {
            slot,
            path: s(path),
            recursive,
        })
    }
    fn move_mount(&mut self, slot: usize, target: &CStr) -> SysResult {
        self.record(Call::MoveMount {
            slot,
            target: s(target),
        })
    }
    fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> SysResult {
        self.record(Call::PivotRoot {
            new_root: s(new_root),
            put_old: s(put_old),
        })
    }
    fn chdir(&mut self, path: &CStr) -> SysResult {
        self.record(Call::Chdir(s(path)))
    }
    fn stat(&mut self, path: &CStr) -> SysResult<FileStat> {
        let p = s(path);
        self.record(Call::Stat(p.clone()))?;
        let kind = if self.dirs.contains(&p) {
            FileKind::Dir
        } else if self.files.contains(&p) {
            FileKind::File
        } else {
            return Err(Errno::NOENT);
        };
        Ok(FileStat {
            kind,
            atime: (0, 0),
            mtime: (0, 0),
        })
    }
    fn mkdir(&mut self, path: &CStr, mode: u32) -> SysResult {
        self.dirs.insert(s(path));
        self.record(Call::Mkdir(s(path), mode))
    }
    fn create_file(&mut self, path: &CStr, mode: u32) -> SysResult {
        self.files.insert(s(path));
        self.record(Call::CreateFile(s(path), mode))
    }
    fn set_times(&mut self, path: &CStr, _stat: &FileStat) -> SysResult {
        self.record(Call::SetTimes(s(path)))
    }
    fn symlink(&mut self, target: &CStr, link: &CStr) -> SysResult {
        self.files.insert(s(link));
        self.record(Call::Symlink {
            target: s(target),
            link: s(link),
        })
    }
    fn report_created(&mut self, path: &CStr) -> SysResult {
        self.record(Call::ReportCreated(s(path)))
    }
    fn sethostname(&mut self, name: &CStr) -> SysResult {
        self.record(Call::Sethostname(s(name)))
    }
    fn loopback_up(&mut self) -> SysResult {
        self.record(Call::LoopbackUp)
    }
    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> SysResult {
        self.record(Call::Setrlimit(resource, soft, hard))
    }
    fn umask(&mut self, mask: u32) {
        let _ = self.record(Call::Umask(mask));
    }
    fn set_keep_caps(&mut self, keep: bool) -> SysResult {
        self.record(Call::SetKeepCaps(keep))
    }
    fn drop_bounding_cap(&mut self, cap: u32) -> SysResult {
        self.record(Call::DropBoundingCap(cap))
    }
    fn set_groups(&mut self, gids: &[Gid]) -> SysResult {
        self.record(Call::SetGroups(gids.iter().map(|g| g.as_raw()).collect()))
    }
    fn set_gid(&mut self, gid: u32) -> SysResult {
        self.record(Call::SetGid(gid))
    }
    fn set_uid(&mut self, uid: u32) -> SysResult {
        self.record(Call::SetUid(uid))
    }
    fn set_capabilities(&mut self, effective: u64, permitted: u64, inheritable: u64) -> SysResult {
        self.record(Call::SetCapabilities {
            effective,
            permitted,
            inheritable,
        })
    }
    fn clear_ambient(&mut self) -> SysResult {
        self.record(Call::ClearAmbient)
    }
    fn raise_ambient(&mut self, cap: u32) -> SysResult {
        self.record(Call::RaiseAmbient(cap))
    }
    fn set_no_new_privs(&mut self) -> SysResult {
        self.record(Call::SetNoNewPrivs)
    }
    fn exec(&mut self, path: &CStr) -> SysResult {
        self.record(Call::Exec(s(path)))?;
        // Only files that exist can be executed.
        if self.files.contains(&s(path)) {
            Ok(())
        } else {
            Err(Errno::NOENT)
        }
    }
    fn join_cgroup(&mut self, procs: &CStr) -> SysResult {
        self.record(Call::JoinCgroup(s(procs)))
    }
    fn open_fd(&mut self, slot: usize, path: &CStr) -> SysResult {
        self.record(Call::OpenFd(slot, s(path)))
    }
    fn setns(&mut self, slot: usize, nstype: u64) -> SysResult {
        self.record(Call::Setns(slot, nstype))
    }
    fn fchdir(&mut self, slot: usize) -> SysResult {
        self.record(Call::Fchdir(slot))
    }
    fn chroot(&mut self, path: &CStr) -> SysResult {
        self.record(Call::Chroot(s(path)))
    }
    /// Plays the new process: returns 0.
    fn fork_sibling(&mut self) -> SysResult<i32> {
        self.record(Call::ForkSibling).map(|_| 0)
    }
    fn report_pid(&mut self, pid: i32) -> SysResult {
        self.record(Call::ReportPid(pid))
    }
    fn exit_now(&mut self, code: i32) {
        let _ = self.record(Call::ExitNow(code));
    }
    fn setsid(&mut self) -> SysResult {
        self.record(Call::Setsid)
    }
    fn set_controlling_terminal(&mut self) -> SysResult {
        self.record(Call::SetControllingTerminal)
    }
}
