//! The few operations of the embedded runtime that need `unsafe`: creating
//! the child with `clone3`, `execve`, resetting signal state, and the
//! loopback ioctl. Each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::os::fd::{FromRawFd, OwnedFd};

use rustix::io::Errno;

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;

fn errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Creates a child process in new namespaces (`CLONE_NEW*` bits of
/// `namespaces`) that runs `child` and never returns to the caller's code.
/// Returns the child's pid and a pidfd for it; the child exits with what
/// `child` returns if it returns.
///
/// `child` runs in a copy of this address space with only the calling
/// thread; it must not allocate or take locks (another thread may have held
/// them at the time of the clone) and must end with `execve` or `_exit`.
pub(crate) fn clone_child(
    namespaces: u64,
    child: impl FnOnce() -> i32,
) -> Result<(i32, OwnedFd), Errno> {
    let mut pidfd: i32 = -1;
    let args = CloneArgs {
        flags: namespaces | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: without CLONE_VM and with a zero stack, clone3 behaves like
    // fork: the child gets a copy-on-write copy of the address space and
    // continues on its copy of this stack, so no memory is shared. `args`
    // and `pidfd` outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(errno()),
        0 => exit_child(child()),
        pid => {
            // SAFETY: clone3 with CLONE_PIDFD stored a new descriptor that
            // nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok((pid as i32, fd))
        }
    }
}

/// `clone3(CLONE_PARENT)` without new namespaces: a fork whose child is a
/// child of the caller's parent. Returns 0 in the child. Same rules as
/// [`clone_child`]: the child must not allocate.
pub(crate) fn fork_sibling() -> Result<i32, Errno> {
    const CLONE_PARENT: u64 = 0x8000;
    let args = CloneArgs {
        flags: CLONE_PARENT,
        // clone3 refuses an exit signal with CLONE_PARENT: the child gets the
        // caller's (SIGCHLD, as `clone_child` sets it).
        exit_signal: 0,
        ..CloneArgs::default()
    };
    // SAFETY: as in `clone_child`: fork semantics (no CLONE_VM, zero stack),
    // `args` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(errno()),
        pid => Ok(pid as i32),
    }
}

/// Ends the child without running destructors or atexit handlers, which
/// belong to the parent's copy of the process.
pub(crate) fn exit_child(code: i32) -> ! {
    // SAFETY: _exit ends the process at once; it is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Puts signal handling back to the defaults an exec'd program expects: no
/// blocked signals, no ignored ones (Rust ignores SIGPIPE, for one).
pub(crate) fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting a signal to its default disposition installs no
        // handler code; invalid numbers just fail with EINVAL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: the set is initialised by sigemptyset before use and lives
    // on this stack for the duration of both calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Marks every descriptor from 3 up close-on-exec, so the program inherits
/// only its standard streams whatever other threads of the parent had open.
pub(crate) fn cloexec_from_3() -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: u32 = 4;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it takes no pointers.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r == -1 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `execve(path, argv, envp)`; returns only on failure.
///
/// `argv` and `envp` must be NULL-terminated arrays of pointers to C strings
/// that live until the call returns (the plan's, see `syscalls::Linux::child`).
pub(crate) fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    if argv.last() != Some(&std::ptr::null()) || envp.last() != Some(&std::ptr::null()) {
        return Errno::INVAL;
    }
    // SAFETY: both arrays are NULL-terminated (checked above) and point to
    // C strings owned by the plan, which outlives this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    errno()
}

/// Sets `lo` up in the current network namespace (what `ip link set lo up` does).
pub(crate) fn loopback_up() -> Result<(), Errno> {
    // SAFETY: plain socket creation; the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain old data, valid when zeroed; the name is
    // NUL-terminated within its 16 bytes; both ioctls read and write only
    // the struct passed, which lives on this stack.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(errno());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(errno());
        }
    }
    Ok(())
}
