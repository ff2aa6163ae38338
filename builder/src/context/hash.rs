//! Content digests of selected context entries.
//!
//! Encoding (version [`ENCODING_VERSION`]), every integer big-endian, every byte string
//! prefixed with its length as u64:
//! - file content: sha256 of the bytes;
//! - node: sha256 of `"strata.context.node\0"`, u32 version, u8 kind (1 file, 2 dir,
//!   3 symlink, 4 fifo, 5 socket, 6 char device, 7 block device), u32 permission bits
//!   (`mode & 0o7777`), u32 uid, u32 gid, then for a file u64 size + content digest, for a
//!   symlink its target, for a device u64 rdev, for a directory u64 child count and per child
//!   (byte order of names) its name and node digest;
//! - selection: sha256 of `"strata.context.selection\0"`, u32 version, u64 count, and per
//!   selected entry its name (path relative to the context), u8 kind and the node digest, or
//!   for a directory (COPY takes its contents, not the directory) the children list alone.
//!
//! Times are never part of it. Nothing here uses `std::hash::Hash` or serde, so the digests
//! only change when this format (and its version) does.

use super::statcache::StatCache;
use super::view::{ContextView, Entry, EntryKind, Meta, Timestamp};
use super::{io_err, ContextError};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata_cache::{Digest, Hasher};

/// Version of the digest encoding; part of every digest.
pub const ENCODING_VERSION: u32 = 1;

/// Read buffer per hashing thread: large enough for few syscalls, small enough to ignore.
const READ_BUF: usize = 256 * 1024;

/// How recent a change may be for its stat data to be trusted later: a file rewritten within
/// one timestamp tick keeps the same times, so such files are not cached (git's "racy clean").
const RACY_MARGIN: Duration = Duration::from_millis(100);
/// The same for file systems that store whole seconds only (nanoseconds all zero).
const RACY_MARGIN_COARSE: Duration = Duration::from_secs(2);

/// Counters of the content hashing done by one [`ContextView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashStats {
    /// Files whose content was read and hashed.
    pub files_hashed: u64,
    /// Files whose digest came from the stat cache without reading them.
    pub files_reused: u64,
    /// Bytes read for hashing.
    pub bytes_hashed: u64,
}

/// Per-entry digests computed so far.
#[derive(Debug)]
pub(crate) struct Memo {
    content: Vec<OnceLock<(Digest, u64)>>,
    node: Vec<OnceLock<Digest>>,
    hashed: AtomicU64,
    reused: AtomicU64,
    bytes: AtomicU64,
}

impl Memo {
    pub(crate) fn new(n: usize) -> Memo {
        Memo {
            content: (0..n).map(|_| OnceLock::new()).collect(),
            node: (0..n).map(|_| OnceLock::new()).collect(),
            hashed: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// Helpers for the explicit encoding.
struct Enc(Hasher);

impl Enc {
    fn new(tag: &[u8]) -> Enc {
        let mut h = Hasher::new();
        h.update(tag);
        h.update(&ENCODING_VERSION.to_be_bytes());
        Enc(h)
    }
    fn u8(&mut self, v: u8) {
        self.0.update(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.0.update(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.update(b);
    }
    fn digest(&mut self, d: &Digest) {
        self.0.update(d.as_bytes());
    }
    fn finish(self) -> Digest {
        self.0.finish().0
    }
}

fn kind_code(k: &EntryKind) -> u8 {
    match k {
        EntryKind::File => 1,
        EntryKind::Dir => 2,
        EntryKind::Symlink(_) => 3,
        EntryKind::Fifo => 4,
        EntryKind::Socket => 5,
        EntryKind::CharDevice => 6,
        EntryKind::BlockDevice => 7,
    }
}

fn to_system_time(t: Timestamp) -> SystemTime {
    if t.sec >= 0 {
        UNIX_EPOCH + Duration::new(t.sec as u64, t.nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs())
            + Duration::from_nanos(u64::from(t.nsec))
    }
}

/// True when `meta` changed too recently (relative to `start`) to be cached safely.
fn is_racy(meta: &Meta, start: SystemTime) -> bool {
    let coarse = meta.mtime.nsec == 0 && meta.ctime.nsec == 0;
    let margin = if coarse {
        RACY_MARGIN_COARSE
    } else {
        RACY_MARGIN
    };
    let newest = to_system_time(meta.mtime.max(meta.ctime));
    newest + margin >= start
}

impl ContextView {
    /// Counters of the hashing this view has done.
    pub fn hash_stats(&self) -> HashStats {
        HashStats {
            files_hashed: self.memo.hashed.load(Ordering::Relaxed),
            files_reused: self.memo.reused.load(Ordering::Relaxed),
            bytes_hashed: self.memo.bytes.load(Ordering::Relaxed),
        }
    }

    fn index_for(&self, e: &Entry) -> Result<usize, ContextError> {
        self.index_of(&e.resolved)
            .ok_or_else(|| ContextError::NotFound {
                path: format!("/{}", e.resolved),
            })
    }

    /// The digest of a selection (as returned by [`select`](Self::select)): what COPY/ADD
    /// would read, for cache keys. Reads only files not hashed before by this view and not
    /// answered by `cache`; records what it read in `cache`.
    pub fn digest(&self, selected: &[Entry], cache: &StatCache) -> Result<Digest, ContextError> {
        let idx: Vec<usize> = selected
            .iter()
            .map(|e| self.index_for(e))
            .collect::<Result<_, _>>()?;
        self.ensure_content(&idx, cache)?;
        let mut enc = Enc::new(b"strata.context.selection\0");
        enc.u64(selected.len() as u64);
        for (e, &i) in selected.iter().zip(&idx) {
            enc.bytes(e.path.as_bytes());
            enc.u8(kind_code(&self.entries[i].kind));
            let d = if self.entries[i].is_dir() {
                self.compute_nodes(i);
                self.children_digest(i)
            } else {
                self.node_digest(i)
            };
            enc.digest(&d);
        }
        Ok(enc.finish())
    }

    /// The node digest of one entry (its metadata and, for a directory, everything below).
    pub fn entry_digest(&self, entry: &Entry, cache: &StatCache) -> Result<Digest, ContextError> {
        let i = self.index_for(entry)?;
        self.ensure_content(&[i], cache)?;
        Ok(self.node_digest(i))
    }

    fn node_digest(&self, i: usize) -> Digest {
        self.compute_nodes(i);
        *self.memo.node[i]
            .get()
            .unwrap_or_else(|| unreachable_node(i))
    }

    /// Computes node digests of the subtree of `root`, children before parents (the entries
    /// are in depth-first pre-order, so reverse order visits every child before its parent).
    fn compute_nodes(&self, root: usize) {
        if self.memo.node[root].get().is_some() {
            return;
        }
        for i in (root..self.subtree_end[root]).rev() {
            if self.memo.node[i].get().is_none() {
                let d = self.encode_node(i);
                let _ = self.memo.node[i].set(d);
            }
        }
    }

    fn encode_node(&self, i: usize) -> Digest {
        let e = &self.entries[i];
        let mut enc = Enc::new(b"strata.context.node\0");
        enc.u8(kind_code(&e.kind));
        enc.u32(e.meta.permissions());
        enc.u32(e.meta.uid);
        enc.u32(e.meta.gid);
        match &e.kind {
            EntryKind::File => {
                let (d, len) = self.memo.content[i]
                    .get()
                    .copied()
                    .unwrap_or_else(|| unreachable_content(i));
                enc.u64(len);
                enc.digest(&d);
            }
            EntryKind::Symlink(t) => enc.bytes(t.as_bytes()),
            EntryKind::CharDevice | EntryKind::BlockDevice => enc.u64(e.meta.rdev),
            EntryKind::Dir => enc.digest(&self.children_digest(i)),
            EntryKind::Fifo | EntryKind::Socket => {}
        }
        enc.finish()
    }

    /// Digest of a directory's children: names and node digests (children computed).
    fn children_digest(&self, i: usize) -> Digest {
        let mut children = Vec::new();
        let mut j = i + 1;
        while j < self.subtree_end[i] {
            children.push(j);
            j = self.subtree_end[j];
        }
        let mut enc = Enc::new(b"strata.context.children\0");
        enc.u64(children.len() as u64);
        for j in children {
            enc.bytes(self.entries[j].name().as_bytes());
            enc.digest(
                self.memo.node[j]
                    .get()
                    .unwrap_or_else(|| unreachable_node(j)),
            );
        }
        enc.finish()
    }

    /// Makes sure every regular file below `roots` has a content digest: from this view's
    /// memo, else the stat cache, else by reading it (in parallel).
    fn ensure_content(&self, roots: &[usize], cache: &StatCache) -> Result<(), ContextError> {
        let start = SystemTime::now();
        cache.note_root(self.root.as_os_str().as_bytes());
        let mut seen = vec![false; self.entries.len()];
        let mut misses = Vec::new();
        for &r in roots {
            for i in r..self.subtree_end[r] {
                let e = &self.entries[i];
                if seen[i] || e.kind != EntryKind::File || self.memo.content[i].get().is_some() {
                    continue;
                }
                seen[i] = true;
                let key = self.host_path(e);
                match cache.lookup(key.as_os_str().as_bytes(), &e.meta) {
                    Some(d) => {
                        let _ = self.memo.content[i].set((d, e.meta.size));
                        self.memo.reused.fetch_add(1, Ordering::Relaxed);
                    }
                    None => misses.push(i),
                }
            }
        }
        // Largest first, so one big file does not start last and hold up the batch.
        misses.sort_by_key(|&i| std::cmp::Reverse(self.entries[i].meta.size));
        for (i, digest, len, meta) in self.hash_files(&misses)? {
            let _ = self.memo.content[i].set((digest, len));
            self.memo.hashed.fetch_add(1, Ordering::Relaxed);
            self.memo.bytes.fetch_add(len, Ordering::Relaxed);
            if !is_racy(&meta, start) && meta.size == len {
                let key = self.host_path(&self.entries[i]);
                cache.insert(key.as_os_str().as_bytes(), &meta, &digest);
            }
        }
        Ok(())
    }

    /// Hashes the files at `jobs` on up to one thread per core.
    fn hash_files(&self, jobs: &[usize]) -> Result<Vec<(usize, Digest, u64, Meta)>, ContextError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len());
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, Digest, u64, Meta)>, ContextError> {
            let mut buf = vec![0u8; READ_BUF];
            let mut out = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = jobs.get(k) else {
                    return Ok(out);
                };
                let (d, len, meta) = self.hash_one(i, &mut buf)?;
                out.push((i, d, len, meta));
            }
        };
        if threads <= 1 {
            return work();
        }
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut all = Vec::with_capacity(jobs.len());
        for r in results {
            match r {
                Ok(part) => all.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(all)
    }

    /// Streams one file through sha256. The stat data returned is taken from the open file
    /// before reading, so a change during the read makes the cached record miss next time.
    fn hash_one(&self, i: usize, buf: &mut [u8]) -> Result<(Digest, u64, Meta), ContextError> {
        let e = &self.entries[i];
        let path = self.host_path(e);
        let mut f = std::fs::File::open(&path).map_err(io_err(&path))?;
        let meta = Meta::of_file(&f).map_err(io_err(&path))?;
        // A different inode means the walked file was replaced (perhaps by a symlink to
        // something outside the context): refuse rather than hash something else.
        if meta.ino != e.meta.ino || meta.dev != e.meta.dev || meta.mode & 0o170000 != 0o100000 {
            return Err(ContextError::Changed { path });
        }
        let mut h = Hasher::new();
        loop {
            let n = match f.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            h.update(&buf[..n]);
        }
        let (d, len) = h.finish();
        Ok((d, len, meta))
    }
}

#[cold]
fn unreachable_node(i: usize) -> &'static Digest {
    panic!("context hash: node {i} used before it was computed")
}

#[cold]
fn unreachable_content(i: usize) -> (Digest, u64) {
    panic!("context hash: content of entry {i} used before it was hashed")
}
