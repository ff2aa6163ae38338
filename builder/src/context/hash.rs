//! Content digests of selected context entries.
//!
//! Encoding (version [`ENCODING_VERSION`]), every integer big-endian, every byte string
//! prefixed with its length as u64. A selection's digest is sha256 of
//! `"strata.context.selection\0"`, u32 version, u64 count of selected entries, and per entry
//! its name (path relative to the context) followed by
//! - for a directory (COPY takes its contents, not the directory itself): u8 2, then its
//!   contents;
//! - otherwise its node.
//!
//! A node is u8 kind (1 file, 2 dir, 3 symlink, 4 fifo, 5 socket, 6 char device, 7 block
//! device), u32 permission bits (`mode & 0o7777`), u32 uid, u32 gid, then for a file u64 size
//! and the 32-byte sha256 of its content, for a symlink its target, for a device u64 rdev;
//! then u8 0 for an entry without hashed xattrs, or u8 1 and their 32-byte digest (see
//! `xattrs.rs`: BuildKit's content hash covers them); then for a directory its contents. Contents are, per child in byte order of names, u8 1, the
//! name and the child's node, then u8 0. [`ContextView::entry_digest`] hashes
//! `"strata.context.entry\0"`, u32 version and one node.
//!
//! Times are never part of it. Nothing here uses `std::hash::Hash` or serde, so the digests
//! only change when this format (and its version) does.

use super::statcache::{StatCache, Sum};
use super::view::{ContextView, Entry, EntryKind, Meta, Timestamp};
use super::xattrs::{self, Source};
use super::{io_err, ContextError};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata_cache::{Digest, Hasher};

/// Version of the digest encoding; part of every digest.
pub const ENCODING_VERSION: u32 = 2;

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
    content: Vec<OnceLock<(Sum, u64)>>,
    /// The digest of each entry's hashed xattrs (None: it has none).
    xattrs: Vec<OnceLock<Option<Sum>>>,
    hashed: AtomicU64,
    reused: AtomicU64,
    bytes: AtomicU64,
}

impl Memo {
    pub(crate) fn new(n: usize) -> Memo {
        Memo {
            content: (0..n).map(|_| OnceLock::new()).collect(),
            xattrs: (0..n).map(|_| OnceLock::new()).collect(),
            hashed: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// The explicit encoding, buffered so that small fields do not each go through sha256's
/// update.
pub(crate) struct Enc {
    hasher: Hasher,
    buf: Vec<u8>,
}

impl Enc {
    pub(crate) fn new(tag: &[u8]) -> Enc {
        let mut e = Enc {
            hasher: Hasher::new(),
            buf: Vec::with_capacity(64 * 1024),
        };
        e.raw(tag);
        e.u32(ENCODING_VERSION);
        e
    }
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 60 * 1024 {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.raw(&[v]);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.raw(b);
    }
    pub(crate) fn finish(mut self) -> Digest {
        self.hasher.update(&self.buf);
        self.hasher.finish().0
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
            if self.entries[i].is_dir() {
                enc.u8(kind_code(&EntryKind::Dir));
                self.encode_contents(&mut enc, i);
            } else {
                self.encode_node(&mut enc, i);
            }
        }
        Ok(enc.finish())
    }

    /// The digest of one entry: its metadata and, for a directory, everything below it.
    pub fn entry_digest(&self, entry: &Entry, cache: &StatCache) -> Result<Digest, ContextError> {
        let i = self.index_for(entry)?;
        self.ensure_content(&[i], cache)?;
        let mut enc = Enc::new(b"strata.context.entry\0");
        self.encode_node(&mut enc, i);
        Ok(enc.finish())
    }

    /// A node: the entry's own fields, then for a directory its contents.
    fn encode_node(&self, enc: &mut Enc, i: usize) {
        self.encode_fields(enc, i);
        if self.entries[i].is_dir() {
            self.encode_contents(enc, i);
        }
    }

    /// Everything of a node except a directory's contents.
    pub(crate) fn encode_fields(&self, enc: &mut Enc, i: usize) {
        let e = &self.entries[i];
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
                enc.raw(&d);
            }
            EntryKind::Symlink(t) => enc.bytes(t.as_bytes()),
            EntryKind::CharDevice | EntryKind::BlockDevice => enc.u64(e.meta.rdev),
            EntryKind::Dir | EntryKind::Fifo | EntryKind::Socket => {}
        }
        match self.memo.xattrs[i].get() {
            Some(None) => enc.u8(0),
            Some(Some(x)) => {
                enc.u8(1);
                enc.raw(x);
            }
            None => unreachable_xattrs(i),
        }
    }

    /// A directory's contents, streamed in walk order (depth first, names sorted), closing
    /// each directory with a 0 marker; iterative so depth cannot exhaust the stack.
    fn encode_contents(&self, enc: &mut Enc, dir: usize) {
        let mut open = vec![self.subtree_end[dir]];
        for k in dir + 1..self.subtree_end[dir] {
            while open.last().is_some_and(|&end| k >= end) {
                enc.u8(0);
                open.pop();
            }
            enc.u8(1);
            enc.bytes(self.entries[k].name().as_bytes());
            self.encode_fields(enc, k);
            if self.entries[k].is_dir() {
                open.push(self.subtree_end[k]);
            }
        }
        for _ in open {
            enc.u8(0);
        }
    }

    /// Makes sure every regular file below `roots` has a content digest and every entry below
    /// them an xattr digest: from this view's memo, else the stat cache, else by reading the
    /// file (in parallel).
    pub(crate) fn ensure_content(
        &self,
        roots: &[usize],
        cache: &StatCache,
    ) -> Result<(), ContextError> {
        let start = SystemTime::now();
        let root = self.root.as_os_str().as_bytes();
        cache.note_root(root);
        let mut seen = vec![false; self.entries.len()];
        let mut misses = Vec::new();
        let mut others = Vec::new();
        let mut reused = 0;
        let mut key = Vec::with_capacity(256);
        {
            let mut lookups = cache.lookups();
            for &r in roots {
                let end = self.subtree_end[r];
                let below = self.entries[r..end].iter().zip(&mut seen[r..end]);
                for (off, (e, seen)) in below.enumerate() {
                    let i = r + off;
                    if *seen {
                        continue;
                    }
                    *seen = true;
                    if e.kind != EntryKind::File {
                        if self.memo.xattrs[i].get().is_none() {
                            others.push(i);
                        }
                        continue;
                    }
                    if self.memo.content[i].get().is_some() {
                        continue;
                    }
                    host_key(&mut key, root, &e.resolved);
                    match lookups.get(&key, &e.meta) {
                        Some((d, x)) => {
                            let _ = self.memo.content[i].set((d, e.meta.size));
                            let _ = self.memo.xattrs[i].set(x);
                            reused += 1;
                        }
                        None => misses.push(i),
                    }
                }
            }
        }
        self.memo.reused.fetch_add(reused, Ordering::Relaxed);
        self.ensure_xattrs(&others)?;
        // Largest first, so one big file does not start last and hold up the batch.
        misses.sort_by_key(|&i| std::cmp::Reverse(self.entries[i].meta.size));
        let mut fresh = Vec::new();
        for (i, digest, len, meta, xattrs) in self.hash_files(&misses)? {
            let sum = *digest.as_bytes();
            let _ = self.memo.content[i].set((sum, len));
            let _ = self.memo.xattrs[i].set(xattrs);
            self.memo.hashed.fetch_add(1, Ordering::Relaxed);
            self.memo.bytes.fetch_add(len, Ordering::Relaxed);
            if !is_racy(&meta, start) && meta.size == len {
                let mut key = Vec::new();
                host_key(&mut key, root, &self.entries[i].resolved);
                fresh.push((key, meta, sum, xattrs));
            }
        }
        cache.insert_all(fresh);
        Ok(())
    }

    /// Makes sure the entries `idx` (not what lies below them) that are not regular files
    /// have an xattr digest; a file's comes with its content digest.
    pub(crate) fn ensure_xattrs(&self, idx: &[usize]) -> Result<(), ContextError> {
        for &i in idx {
            let e = &self.entries[i];
            if e.kind == EntryKind::File || self.memo.xattrs[i].get().is_some() {
                continue;
            }
            let path = self.host_path(e);
            let x = xattrs::digest(Source::Path(&path)).map_err(io_err(&path))?;
            let _ = self.memo.xattrs[i].set(x);
        }
        Ok(())
    }

    /// Hashes the files at `jobs` on up to one thread per core.
    fn hash_files(&self, jobs: &[usize]) -> Result<Vec<Hashed>, ContextError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // Beyond a few threads per core the reads only queue in the kernel.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16)
            .min(jobs.len());
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<Hashed>, ContextError> {
            let mut buf = vec![0u8; READ_BUF];
            let mut out = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = jobs.get(k) else {
                    return Ok(out);
                };
                let (d, len, meta, x) = self.hash_one(i, &mut buf)?;
                out.push((i, d, len, meta, x));
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

    /// Streams one file through sha256, then reads its xattrs. The stat data returned is
    /// taken from the open file before reading, so a change during the read (of content or
    /// xattrs, which moves the ctime) makes the cached record miss next time.
    fn hash_one(
        &self,
        i: usize,
        buf: &mut [u8],
    ) -> Result<(Digest, u64, Meta, Option<Sum>), ContextError> {
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
        let x = xattrs::digest(Source::Fd(f.as_fd())).map_err(io_err(&path))?;
        Ok((d, len, meta, x))
    }
}

/// A hashed file: its index, content digest, length, stat data and xattr digest.
type Hashed = (usize, Digest, u64, Meta, Option<Sum>);

/// The stat cache key of an entry: its host path as bytes.
fn host_key(key: &mut Vec<u8>, root: &[u8], rel: &str) {
    key.clear();
    key.extend_from_slice(root);
    if !rel.is_empty() {
        key.push(b'/');
        key.extend_from_slice(rel.as_bytes());
    }
}

#[cold]
fn unreachable_content(i: usize) -> (Sum, u64) {
    panic!("context hash: content of entry {i} used before it was hashed")
}

#[cold]
fn unreachable_xattrs(i: usize) -> ! {
    panic!("context hash: xattrs of entry {i} used before they were read")
}
