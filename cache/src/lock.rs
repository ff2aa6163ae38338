//! Advisory file locks (flock) shared by every strata process using a store.
//!
//! Two locks live in `strata/v1/locks/`:
//! - `gc.lock`: held *shared* by a [`Lease`] (any command from its first blob write until its
//!   references are recorded in index.json) and *exclusive* by GC and check, so GC never sees
//!   a blob that a running command is about to reference.
//! - `index.lock`: held exclusive around every read-modify-write of index.json.
//!
//! Lock order: the gc lock before the index lock, always. flock locks belong to an open file
//! description, so each lock opens its own descriptor and two threads of one process exclude
//! each other exactly like two processes do. Dropping the guard closes the descriptor and
//! releases the lock; a crashed process releases it too.

use crate::error::{IoContext, Result};
use rustix::fs::FlockOperation;
use rustix::io::Errno;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How a lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Shared,
    Exclusive,
}

/// A held flock; released on drop.
#[derive(Debug)]
pub(crate) struct FileLock {
    // Kept only for its descriptor: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Opens (creating) `path` and blocks until the lock is granted.
    pub(crate) fn acquire(path: &Path, mode: Mode) -> Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .ctx("open lock file", path)?;
        let op = match mode {
            Mode::Shared => FlockOperation::LockShared,
            Mode::Exclusive => FlockOperation::LockExclusive,
        };
        loop {
            match rustix::fs::flock(&file, op) {
                Ok(()) => break,
                // A signal interrupted the wait; keep waiting.
                Err(Errno::INTR) => continue,
                Err(e) => return Err(std::io::Error::from(e)).ctx("flock", path),
            }
        }
        Ok(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Tries to take the lock without waiting; `Ok(None)` when someone else holds it.
    pub(crate) fn try_acquire(path: &Path, mode: Mode) -> Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .ctx("open lock file", path)?;
        let op = match mode {
            Mode::Shared => FlockOperation::NonBlockingLockShared,
            Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
        };
        loop {
            match rustix::fs::flock(&file, op) {
                Ok(()) => {
                    return Ok(Some(FileLock {
                        _file: file,
                        path: path.to_path_buf(),
                    }))
                }
                Err(Errno::INTR) => continue,
                Err(Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(std::io::Error::from(e)).ctx("flock", path),
            }
        }
    }

    /// The lock file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A GC lease: while it lives, no GC, prune or check runs against the store, so blobs this
/// process wrote but has not yet referenced from index.json survive.
///
/// Take one (with [`Store::lease`](crate::Store::lease)) before the first blob write of a
/// command and drop it after the image is tagged or added. Leases are cheap and shared: any
/// number of processes and threads may hold them at once. Never call
/// [`Store::gc`](crate::Store::gc) or [`Store::check`](crate::Store::check) while the same
/// thread holds a lease: they wait for every lease to end, including that one.
#[derive(Debug)]
pub struct Lease {
    _lock: FileLock,
}

impl Lease {
    pub(crate) fn new(lock: FileLock) -> Lease {
        debug_assert!(lock.path().ends_with("gc.lock"));
        Lease { _lock: lock }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = FileLock::acquire(&p, Mode::Shared).unwrap();
        let b = FileLock::try_acquire(&p, Mode::Shared).unwrap();
        assert!(b.is_some());
        assert!(FileLock::try_acquire(&p, Mode::Exclusive)
            .unwrap()
            .is_none());
        drop(a);
        drop(b);
        let x = FileLock::try_acquire(&p, Mode::Exclusive).unwrap();
        assert!(x.is_some());
        assert!(FileLock::try_acquire(&p, Mode::Shared).unwrap().is_none());
    }
}
