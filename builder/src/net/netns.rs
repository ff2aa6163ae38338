//! Network namespaces held by a file descriptor: no bind mount, so nothing is left on the
//! host when the holder dies — the namespace, and the veth ends in it, go with the last
//! descriptor or process.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::netlink::Socket;

/// A network namespace.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
}

impl Netns {
    /// A new namespace with its loopback interface up.
    pub fn create() -> io::Result<Netns> {
        // unshare() moves only the calling thread, which ends right after: the process's other
        // threads keep their namespace.
        let fd = std::thread::spawn(|| -> io::Result<OwnedFd> {
            // SAFETY: only CLONE_NEWNET is unshared: the file descriptor table stays shared,
            // which is what `unshare_unsafe` warns about.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }?;
            let fd = rustix::fs::open(
                "/proc/thread-self/ns/net",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut sock = Socket::open()?;
            sock.set_up("lo")?;
            Ok(fd)
        })
        .join()
        .map_err(|_| io::Error::other("network namespace thread panicked"))??;
        Ok(Netns { fd })
    }

    /// The namespace of process `pid`.
    pub fn of_pid(pid: u32) -> io::Result<Netns> {
        let fd = rustix::fs::open(
            format!("/proc/{pid}/ns/net"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Netns { fd })
    }

    /// The descriptor.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// A path that opens this namespace while this process holds it (for an OCI config's
    /// `linux.namespaces[].path`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        let fd = self.fd.as_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(fd, Some(LinkNameSpaceType::Network))?;
                f()
            })
            .join()
            .map_err(|_| io::Error::other("network namespace thread panicked"))?
        })
    }

    /// A netlink socket that acts inside the namespace.
    pub fn socket(&self) -> io::Result<Socket> {
        self.run(Socket::open)
    }
}
