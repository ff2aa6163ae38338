//! Advisory file locks (flock) shared by every strata process using a store.
//!
//! Three lock files live in `strata/v1/locks/`:
//! - `gc.lock`: held *shared* by a [`Lease`] (any command from its first blob write until its
//!   references are recorded in index.json) and *exclusive* by GC and check, so GC never sees
//!   a blob that a running command is about to reference.
//! - `gate.lock`: flock has no fairness, so a steady stream of overlapping leases could starve
//!   GC forever. GC takes the gate exclusive before waiting for `gc.lock`; a new lease passes
//!   the gate (shared, briefly) first, so once GC is waiting no new lease starts and the
//!   running ones drain. A lease taken while this process already holds one skips the gate:
//!   waiting there would deadlock against a GC that waits for the lease already held.
//! - `index.lock`: held exclusive around every read-modify-write of index.json.
//!
//! Lock order: gate, then gc, then index, always. flock locks belong to an open file
//! description, so each lock opens its own descriptor and two threads of one process exclude
//! each other exactly like two processes do. Dropping the guard closes the descriptor and
//! releases the lock; a crashed process releases it too.

use crate::error::{Error, IoContext, Result};
use rustix::fs::FlockOperation;
use rustix::io::Errno;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::ThreadId;

/// Leases this process holds, per gc.lock path and per thread that took them (see the
/// module doc on the gate; the per-thread count catches GC called under one's own lease).
type Held = BTreeMap<PathBuf, HashMap<ThreadId, usize>>;
static HELD: Mutex<Held> = Mutex::new(BTreeMap::new());

fn held() -> std::sync::MutexGuard<'static, Held> {
    // A panic while holding this map cannot leave it inconsistent (one-line updates).
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

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
/// number of processes and threads may hold them at once, and nesting is fine. GC and check
/// wait for every lease to end: called from a thread holding a lease on the same store they
/// fail with [`Error::LeaseHeld`](crate::Error::LeaseHeld); don't make a thread that holds a
/// lease wait for another thread that runs them either.
#[derive(Debug)]
pub struct Lease {
    lock: FileLock,
    thread: ThreadId,
}

impl Lease {
    /// Takes a shared hold on `locks_dir/gc.lock`, through the gate unless nested.
    pub(crate) fn acquire(locks_dir: &Path) -> Result<Lease> {
        let gc = locks_dir.join("gc.lock");
        let nested = held().get(&gc).is_some_and(|t| !t.is_empty());
        let lock = if nested {
            FileLock::acquire(&gc, Mode::Shared)?
        } else {
            let _gate = FileLock::acquire(&locks_dir.join("gate.lock"), Mode::Shared)?;
            FileLock::acquire(&gc, Mode::Shared)?
        };
        let thread = std::thread::current().id();
        *held().entry(gc).or_default().entry(thread).or_default() += 1;
        Ok(Lease { lock, thread })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut map = held();
        let Some(threads) = map.get_mut(self.lock.path()) else {
            return;
        };
        if let Some(n) = threads.get_mut(&self.thread) {
            *n -= 1;
            if *n == 0 {
                threads.remove(&self.thread);
            }
        }
        if threads.is_empty() {
            map.remove(self.lock.path());
        }
    }
}

/// GC and check's hold: gate and gc lock, both exclusive.
#[derive(Debug)]
pub(crate) struct Exclusive {
    _gc: FileLock,
    _gate: FileLock,
}

impl Exclusive {
    /// Blocks until every lease has ended; logs when it has to wait.
    pub(crate) fn acquire(locks_dir: &Path, root: &Path) -> Result<Exclusive> {
        let gate_path = locks_dir.join("gate.lock");
        let gc_path = locks_dir.join("gc.lock");
        let me = std::thread::current().id();
        if held().get(&gc_path).is_some_and(|t| t.contains_key(&me)) {
            // Waiting would never end: the lease we wait for is our own.
            return Err(Error::LeaseHeld {
                root: root.to_path_buf(),
            });
        }
        if let Some(gate) = FileLock::try_acquire(&gate_path, Mode::Exclusive)? {
            if let Some(gc) = FileLock::try_acquire(&gc_path, Mode::Exclusive)? {
                return Ok(Exclusive {
                    _gc: gc,
                    _gate: gate,
                });
            }
            tracing::info!(
                "waiting for other strata commands using {} to finish",
                root.display()
            );
            let gc = FileLock::acquire(&gc_path, Mode::Exclusive)?;
            return Ok(Exclusive {
                _gc: gc,
                _gate: gate,
            });
        }
        tracing::info!(
            "waiting for another garbage collection or check of {} to finish",
            root.display()
        );
        let gate = FileLock::acquire(&gate_path, Mode::Exclusive)?;
        let gc = FileLock::acquire(&gc_path, Mode::Exclusive)?;
        Ok(Exclusive {
            _gc: gc,
            _gate: gate,
        })
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
