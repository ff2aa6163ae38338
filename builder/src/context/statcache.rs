//! The stat cache: file content digests remembered across builds, keyed by what `lstat`
//! says about the file, so an unchanged file is not read again.
//!
//! File format (version [`STAT_CACHE_VERSION`]), integers little-endian:
//! `"strata-statcache\n"`, u32 version, u64 record count, records of
//! `u32 path length, path bytes, u64 size, i64 mtime sec, u32 mtime nsec, i64 ctime sec,
//! u32 ctime nsec, u64 inode, u32 mode, 32-byte sha256 of the content, u8 1 and the 32-byte
//! digest of the file's hashed xattrs (u8 0 and 32 zero bytes when it has none)`, then the
//! sha256 of
//! everything before it. A file that is missing, of another version, truncated or failing the
//! checksum is ignored: the cache only ever saves work.

use super::view::{Meta, Timestamp};
use super::{io_err, ContextError};
use std::collections::HashMap;
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use strata_cache::Hasher;

/// Version of the stat cache file format.
pub const STAT_CACHE_VERSION: u32 = 2;

const MAGIC: &[u8] = b"strata-statcache\n";
/// A path longer than this in a record means the file is damaged (PATH_MAX is 4096).
const MAX_PATH: usize = 64 * 1024;

/// The stat data a cached digest is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    size: u64,
    mtime: Timestamp,
    ctime: Timestamp,
    ino: u64,
    mode: u32,
}

impl Key {
    fn of(m: &Meta) -> Key {
        Key {
            size: m.size,
            mtime: m.mtime,
            ctime: m.ctime,
            ino: m.ino,
            mode: m.mode,
        }
    }
}

/// A content digest (sha256) as raw bytes.
pub(crate) type Sum = [u8; 32];

#[derive(Debug, Clone)]
struct Record {
    key: Key,
    digest: Sum,
    /// The digest of the file's hashed xattrs (changing an xattr changes the ctime, so the
    /// key covers them too).
    xattrs: Option<Sum>,
    /// Looked up or inserted since loading: known to describe a live file.
    used: bool,
}

/// What [`StatCache::load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadStatus {
    /// Nothing was loaded (a new cache).
    Empty,
    /// This many records were loaded.
    Loaded(usize),
    /// The file was unusable and ignored; why.
    Ignored(String),
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<Vec<u8>, Record>,
    /// Roots (with a trailing '/') whose files were hashed: their unused records are stale.
    roots: Vec<Vec<u8>>,
    /// A record was added or replaced since loading.
    changed: bool,
}

/// Content digests by host path and stat data; shared by the hashing threads.
#[derive(Debug)]
pub struct StatCache {
    inner: Mutex<Inner>,
    status: LoadStatus,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for StatCache {
    fn default() -> Self {
        StatCache::new()
    }
}

impl StatCache {
    /// An empty cache.
    pub fn new() -> StatCache {
        StatCache {
            inner: Mutex::new(Inner::default()),
            status: LoadStatus::Empty,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Loads the cache file at `path`. Never fails: a missing or unusable file gives an empty
    /// cache (see [`status`](Self::status) for which).
    pub fn load(path: &Path) -> StatCache {
        let mut cache = StatCache::new();
        match fs::File::open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => cache.status = LoadStatus::Ignored(format!("{}: {e}", path.display())),
            Ok(f) => match read_records(f) {
                Ok(records) => {
                    cache.status = LoadStatus::Loaded(records.len());
                    cache.lock().records = records;
                }
                Err(why) => {
                    cache.status = LoadStatus::Ignored(format!("{}: {why}", path.display()))
                }
            },
        }
        cache
    }

    /// What loading found.
    pub fn status(&self) -> &LoadStatus {
        &self.status
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups answered and not answered so far.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave a record half-written; keep using the map.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a batch of lookups under one lock.
    pub(crate) fn lookups(&self) -> Lookups<'_> {
        Lookups {
            inner: self.lock(),
            cache: self,
            hits: 0,
            misses: 0,
        }
    }

    /// Records digests with the stat data they are valid for, keyed by host path.
    pub(crate) fn insert_all(&self, records: Vec<(Vec<u8>, Meta, Sum, Option<Sum>)>) {
        let mut inner = self.lock();
        for (path, meta, digest, xattrs) in records {
            let record = Record {
                key: Key::of(&meta),
                digest,
                xattrs,
                used: true,
            };
            inner.changed = true;
            inner.records.insert(path, record);
        }
    }

    /// Notes that files under `root` were hashed, so records there that were not used are
    /// for deleted or changed files and need not be saved.
    pub(crate) fn note_root(&self, root: &[u8]) {
        let mut r = root.to_vec();
        r.push(b'/');
        let mut inner = self.lock();
        if !inner.roots.contains(&r) {
            inner.roots.push(r);
        }
    }

    /// Writes the cache to `path` atomically (temporary file, fsync, rename, fsync of the
    /// directory), creating the directory if needed. Records under a hashed root that were
    /// not used this time are dropped; records of other contexts are kept.
    pub fn save(&self, path: &Path) -> Result<(), ContextError> {
        if !self.needs_saving() {
            // The file already says exactly this: a warm build writes nothing.
            return Ok(());
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp.{}.{}", std::process::id(), unique()));
        let result = self.write_to(&tmp).and_then(|()| {
            fs::rename(&tmp, path).map_err(io_err(path))?;
            // The rename is durable only once the directory is.
            fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&dir))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// False when the file loaded holds exactly what would be written: no record was added
    /// or replaced, and none would be dropped as stale.
    pub fn needs_saving(&self) -> bool {
        if !matches!(self.status, LoadStatus::Loaded(_)) {
            return !self.is_empty();
        }
        let inner = self.lock();
        inner.changed
            || inner
                .records
                .iter()
                .any(|(p, r)| !r.used && inner.roots.iter().any(|root| p.starts_with(root)))
    }

    fn write_to(&self, tmp: &Path) -> Result<(), ContextError> {
        let inner = self.lock();
        let keep: Vec<(&Vec<u8>, &Record)> = inner
            .records
            .iter()
            .filter(|(p, r)| r.used || !inner.roots.iter().any(|root| p.starts_with(root)))
            .collect();
        let mut sorted = keep;
        // Sorted for a reproducible file.
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(io_err(tmp))?;
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Hasher::new(),
        };
        let body = || -> io::Result<()> {
            w.write_all(MAGIC)?;
            w.write_all(&STAT_CACHE_VERSION.to_le_bytes())?;
            w.write_all(&(sorted.len() as u64).to_le_bytes())?;
            for (p, r) in &sorted {
                w.write_all(&(p.len() as u32).to_le_bytes())?;
                w.write_all(p)?;
                w.write_all(&r.key.size.to_le_bytes())?;
                w.write_all(&r.key.mtime.sec.to_le_bytes())?;
                w.write_all(&r.key.mtime.nsec.to_le_bytes())?;
                w.write_all(&r.key.ctime.sec.to_le_bytes())?;
                w.write_all(&r.key.ctime.nsec.to_le_bytes())?;
                w.write_all(&r.key.ino.to_le_bytes())?;
                w.write_all(&r.key.mode.to_le_bytes())?;
                w.write_all(&r.digest)?;
                w.write_all(&[u8::from(r.xattrs.is_some())])?;
                w.write_all(&r.xattrs.unwrap_or_default())?;
            }
            let sum = w.hasher.digest();
            w.inner.write_all(sum.as_bytes())?;
            let file = w.inner.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        };
        body().map_err(io_err(tmp))
    }
}

/// Lookups holding the cache's lock (one lock for a whole walk, not one per file).
pub(crate) struct Lookups<'a> {
    inner: std::sync::MutexGuard<'a, Inner>,
    cache: &'a StatCache,
    hits: u64,
    misses: u64,
}

impl Lookups<'_> {
    /// The content and xattr digests recorded for `path` if its stat data still matches
    /// `meta`.
    pub(crate) fn get(&mut self, path: &[u8], meta: &Meta) -> Option<(Sum, Option<Sum>)> {
        match self.inner.records.get_mut(path) {
            Some(r) if r.key == Key::of(meta) => {
                r.used = true;
                self.hits += 1;
                Some((r.digest, r.xattrs))
            }
            _ => {
                self.misses += 1;
                None
            }
        }
    }
}

impl Drop for Lookups<'_> {
    fn drop(&mut self) {
        self.cache.hits.fetch_add(self.hits, Ordering::Relaxed);
        self.cache.misses.fetch_add(self.misses, Ordering::Relaxed);
    }
}

fn unique() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads and checks a cache file, streaming; any defect rejects the whole file.
fn read_records(f: fs::File) -> Result<HashMap<Vec<u8>, Record>, String> {
    let mut r = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, f),
        hasher: Hasher::new(),
    };
    let io = |e: io::Error| format!("truncated or unreadable ({e})");
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(io)?;
    if magic != MAGIC {
        return Err("not a stat cache file".into());
    }
    let version = u32::from_le_bytes(r.array().map_err(io)?);
    if version != STAT_CACHE_VERSION {
        return Err(format!("version {version}, expected {STAT_CACHE_VERSION}"));
    }
    let count = u64::from_le_bytes(r.array().map_err(io)?);
    let mut records = HashMap::with_capacity(count.min(1 << 20) as usize);
    // size, mtime sec+nsec, ctime sec+nsec, inode, mode, digest, xattr flag and digest
    const FIXED: usize = 8 + 8 + 4 + 8 + 4 + 8 + 4 + 32 + 1 + 32;
    for _ in 0..count {
        let len = u32::from_le_bytes(r.array().map_err(io)?) as usize;
        if len > MAX_PATH {
            return Err("damaged record".into());
        }
        let mut path = vec![0u8; len];
        r.read_exact(&mut path).map_err(io)?;
        let b: [u8; FIXED] = r.array().map_err(io)?;
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let key = Key {
            size: u64_at(0),
            mtime: Timestamp {
                sec: u64_at(8) as i64,
                nsec: u32_at(16),
            },
            ctime: Timestamp {
                sec: u64_at(20) as i64,
                nsec: u32_at(28),
            },
            ino: u64_at(32),
            mode: u32_at(40),
        };
        let mut digest: Sum = [0; 32];
        digest.copy_from_slice(&b[44..76]);
        let xattrs = match b[76] {
            0 => None,
            1 => {
                let mut x: Sum = [0; 32];
                x.copy_from_slice(&b[77..109]);
                Some(x)
            }
            _ => return Err("damaged record".into()),
        };
        records.insert(
            path,
            Record {
                key,
                digest,
                xattrs,
                used: false,
            },
        );
    }
    let expected = r.hasher.digest();
    let mut sum = [0u8; 32];
    r.inner.read_exact(&mut sum).map_err(io)?;
    if &sum != expected.as_bytes() {
        return Err("checksum mismatch".into());
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra).map_err(io)? != 0 {
        return Err("trailing data".into());
    }
    Ok(records)
}

struct HashingReader<R: Read> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        self.read_exact(&mut a)?;
        Ok(a)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ContextView;

    fn hash_all(ctx: &Path, cache: &StatCache) {
        let view = ContextView::open(ctx, &[] as &[&str]).unwrap();
        let all = view.select(&[".".to_string()]).unwrap();
        view.digest(&all, cache).unwrap();
    }

    #[test]
    fn unchanged_cache_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        for name in ["a", "b"] {
            std::fs::write(ctx.join(name), name).unwrap();
        }
        // Old enough not to be "racy" (changed within the timestamp granularity).
        std::thread::sleep(std::time::Duration::from_millis(150));
        let path = dir.path().join("stats");
        let cold = StatCache::load(&path);
        hash_all(&ctx, &cold);
        assert!(cold.needs_saving());
        cold.save(&path).unwrap();
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();

        let warm = StatCache::load(&path);
        hash_all(&ctx, &warm);
        assert_eq!(warm.hits_and_misses(), (2, 0));
        assert!(!warm.needs_saving());
        std::thread::sleep(std::time::Duration::from_millis(20));
        warm.save(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );

        // A deleted file makes its record stale: the file is rewritten without it.
        std::fs::remove_file(ctx.join("b")).unwrap();
        let after = StatCache::load(&path);
        hash_all(&ctx, &after);
        assert!(after.needs_saving());
        after.save(&path).unwrap();
        assert_eq!(StatCache::load(&path).status(), &LoadStatus::Loaded(1));
    }
}
