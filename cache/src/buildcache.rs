//! The build-cache index: [`CacheKey`] -> [`CacheRecord`] (a step's layer and config delta).
//!
//! ```text
//! ROOT/strata/v1/buildcache/v1/<key hex>.json    one record per key
//! ```
//!
//! Each record is written to `strata/v1/tmp/`, fsynced and renamed into place, so a reader
//! sees a whole record or none. Records are a cache: an unreadable, corrupt or
//! unknown-version record is a miss (and `check` reports it), never an error. A record's
//! layer blob is a GC root, and its diffID keeps the layer's snapshot; `cache_prune` drops
//! records and then collects what they alone kept.
//!
//! Writes happen under the caller's [`Lease`](crate::Lease): a build takes
//! [`Store::lease`] when it starts and holds it until its image is tagged, so the blobs
//! and snapshots it made survive until a record or the catalogue refers to them.
//!
//! `last_used` is kept cheaply: [`Store::cache_touch`] only sets the record file's mtime (no
//! rewrite, no fsync, so a fully cached rebuild stays fast) and readers report the later of
//! the field and the mtime.

use crate::check::{BadCacheRecord, CheckReport, RepairReport};
use crate::digest::{Digest, DigestError};
use crate::error::{Error, IoContext, Result};
use crate::gc::{GcOptions, GcReport};
use crate::oci::Descriptor;
use crate::store::{remove_quietly, sync_dir, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// The record format this build reads and writes ([`CacheRecord::version`]).
pub const CACHE_RECORD_VERSION: u32 = 1;

const BUILDCACHE: &str = "buildcache";
const LAYOUT: &str = "v1";

/// A build step's cache key: the sha256 of the stable encoding the builder computes from the
/// parent key, the instruction and its inputs. The store only keeps it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheKey(Digest);

impl CacheKey {
    /// Wraps the digest of a key encoding.
    pub fn new(digest: Digest) -> CacheKey {
        CacheKey(digest)
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The 64-character hex part (the record's file name).
    pub fn hex(&self) -> String {
        self.0.hex()
    }
}

impl From<Digest> for CacheKey {
    fn from(d: Digest) -> CacheKey {
        CacheKey(d)
    }
}

impl FromStr for CacheKey {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<CacheKey, DigestError> {
        s.parse().map(CacheKey)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.0)
    }
}

/// The cached result of one build step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRecord {
    /// Record format; [`CACHE_RECORD_VERSION`] for records this build writes.
    pub version: u32,
    /// The step's key.
    pub key: CacheKey,
    /// The previous step's key (None for the first step after FROM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_key: Option<CacheKey>,
    /// The compressed layer blob the step produced (None for metadata-only steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Descriptor>,
    /// The layer's diffID (digest of the uncompressed tar); set exactly when `layer` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
    /// The step's change to the image config; opaque to the store.
    #[serde(default)]
    pub config_delta: serde_json::Value,
    /// When the record was written.
    pub created: DateTime<Utc>,
    /// When the record was last a hit (see the module doc).
    pub last_used: DateTime<Utc>,
    /// What the step was (the instruction), for `--explain-cache` and `builder prune`.
    #[serde(default)]
    pub description: String,
    /// Named input digests, for `--explain-cache`; opaque to the store.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
}

impl CacheRecord {
    /// A record of the current version, created and used now, without layer, config delta
    /// or inputs.
    pub fn new(key: CacheKey, description: impl Into<String>) -> CacheRecord {
        let now = Utc::now();
        CacheRecord {
            version: CACHE_RECORD_VERSION,
            key,
            parent_key: None,
            layer: None,
            diff_id: None,
            config_delta: serde_json::Value::Null,
            created: now,
            last_used: now,
            description: description.into(),
            inputs: BTreeMap::new(),
        }
    }
}

/// Which records [`Store::cache_prune`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePruneFilter {
    /// Every record.
    All,
    /// Records last used before this time (newer ones are kept).
    UnusedSince(DateTime<Utc>),
    /// docker's "dangling" build cache: records whose layer no image in the catalogue
    /// uses (their bytes are the cache's alone), last used before the time when one is
    /// given. Records without a layer, or whose layer an image shares, free nothing and stay.
    Dangling(Option<DateTime<Utc>>),
}

impl CachePruneFilter {
    /// Records not used for `age` (docker's `--filter until=<age>`).
    pub fn unused_for(age: Duration) -> CachePruneFilter {
        let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(age)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        CachePruneFilter::UnusedSince(cutoff)
    }

    /// Whether the record goes; `in_images` holds the blobs images reach (only
    /// [`CachePruneFilter::Dangling`] looks at it).
    fn removes(&self, record: &CacheRecord, in_images: &BTreeSet<Digest>) -> bool {
        match self {
            CachePruneFilter::All => true,
            CachePruneFilter::UnusedSince(t) => record.last_used < *t,
            CachePruneFilter::Dangling(until) => {
                until.is_none_or(|t| record.last_used < t)
                    && record
                        .layer
                        .as_ref()
                        .is_some_and(|l| !in_images.contains(&l.digest))
            }
        }
    }
}

/// What [`Store::cache_prune`] did.
#[derive(Debug, Clone, Default)]
pub struct CachePruneReport {
    /// The records removed.
    pub removed: Vec<CacheRecord>,
    /// The garbage collection that followed (blobs and snapshots only those records kept).
    pub gc: GcReport,
}

/// A record file as read from disk.
#[derive(Debug)]
pub(crate) enum Parsed {
    Ok(Box<CacheRecord>),
    /// A well-formed record of another format version: a miss, left alone.
    Unsupported,
    /// Not a usable record (why).
    Bad(String),
}

/// Parses a record file's bytes; `expected` is the key its name says.
pub(crate) fn parse_record(bytes: &[u8], expected: &CacheKey) -> Parsed {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Parsed::Bad(format!("not JSON: {e}")),
    };
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(CACHE_RECORD_VERSION) => {}
        Some(_) => return Parsed::Unsupported,
        None => return Parsed::Bad("no version".to_string()),
    }
    let record: CacheRecord = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return Parsed::Bad(e.to_string()),
    };
    if record.key != *expected {
        return Parsed::Bad(format!("file holds the record of {}", record.key));
    }
    Parsed::Ok(Box::new(record))
}

/// Blobs and diffIDs the build cache refers to.
#[derive(Debug, Default)]
pub(crate) struct CacheRefs {
    pub layers: BTreeSet<Digest>,
    pub diff_ids: BTreeSet<Digest>,
}

/// Reads every record leniently (any version, only `layer.digest` and `diffId`), so GC keeps
/// what a record of a newer format still refers to.
pub(crate) fn cache_refs(store: &Store) -> Result<CacheRefs> {
    let mut refs = CacheRefs::default();
    for (path, _) in store.cache_files()? {
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let digest_at = |p: &str| {
            value
                .pointer(p)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<Digest>().ok())
        };
        refs.layers.extend(digest_at("/layer/digest"));
        refs.diff_ids.extend(digest_at("/diffId"));
    }
    Ok(refs)
}

impl Store {
    /// `ROOT/strata/v1/buildcache/v1`: one JSON file per cache key.
    pub fn buildcache_dir(&self) -> PathBuf {
        self.metadata_dir().join(BUILDCACHE).join(LAYOUT)
    }

    pub(crate) fn cache_path(&self, key: &CacheKey) -> PathBuf {
        self.buildcache_dir().join(format!("{}.json", key.hex()))
    }

    /// Record files: `(path, key)`, key None for names that are not `<hex>.json`.
    pub(crate) fn cache_files(&self) -> Result<Vec<(PathBuf, Option<CacheKey>)>> {
        let dir = self.buildcache_dir();
        let mut out = Vec::new();
        for entry in crate::store::dir_entries(&dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = name
                .strip_suffix(".json")
                .and_then(|h| Digest::from_hex(h).ok())
                .map(CacheKey);
            out.push((entry.path(), key));
        }
        out.sort();
        Ok(out)
    }

    /// Reads one record file; `Ok(None)` when it does not exist.
    pub(crate) fn read_cache_file(&self, key: &CacheKey) -> Result<Option<(Parsed, SystemTime)>> {
        let path = self.cache_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        // A record replaced meanwhile just reports the old mtime: last_used is advisory.
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(Some((parse_record(&bytes, key), mtime)))
    }

    /// The record of `key`, if there is a usable one: `None` when absent, unreadable, of
    /// another version, or when its layer blob is missing or has the wrong size.
    pub fn cache_get(&self, key: &CacheKey) -> Result<Option<CacheRecord>> {
        let Some((Parsed::Ok(record), mtime)) = self.read_cache_file(key)? else {
            return Ok(None);
        };
        let mut record = *record;
        if let Some(layer) = &record.layer {
            match fs::metadata(self.blob_path(&layer.digest)) {
                Ok(m) if m.is_file() && m.len() == layer.size => {}
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("stat", self.blob_path(&layer.digest), e)),
            }
        }
        apply_mtime(&mut record, mtime);
        Ok(Some(record))
    }

    /// Writes (or replaces) the record of `record.key`: temp file, fsync, rename. Refuses a
    /// record of another version, one with a layer but no diffID (or the reverse), and one
    /// whose layer blob is not in the store. The caller holds a [`Lease`](crate::Lease) from
    /// before it wrote the layer blob until this returns.
    pub fn cache_put(&self, record: &CacheRecord) -> Result<()> {
        let path = self.cache_path(&record.key);
        let invalid = |reason: &str| Error::CacheRecord {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if record.version != CACHE_RECORD_VERSION {
            return Err(invalid(&format!(
                "version {} (this strata writes {CACHE_RECORD_VERSION})",
                record.version
            )));
        }
        if record.layer.is_some() != record.diff_id.is_some() {
            return Err(invalid("a layer needs a diffID and a diffID needs a layer"));
        }
        if let Some(layer) = &record.layer {
            if !self.has_blob(&layer.digest)? {
                return Err(Error::BlobNotFound(layer.digest));
            }
        }
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::Json {
            what: path.display().to_string(),
            source: e,
        })?;
        // Our own lease keeps GC off the temp file even if the caller forgot theirs.
        let _lease = self.lease()?;
        let dir = self.buildcache_dir();
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let tmp = self.new_tmp_path();
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
                .ctx("create", &tmp)?;
            f.write_all(&bytes).ctx("write", &tmp)?;
            // The mtime stands for last_used (see the module doc); start it at the field.
            f.set_modified(record.last_used.into())
                .ctx("set modification time", &tmp)?;
            f.sync_all().ctx("fsync", &tmp)?;
            drop(f);
            // No directory fsync: losing the rename in a crash is only a cache miss.
            fs::rename(&tmp, &path).ctx("rename", &path)
        })();
        remove_quietly(&tmp);
        result
    }

    /// Marks the record of `key` used now (sets its file's mtime; see the module doc).
    /// Returns false when there is no such record.
    pub fn cache_touch(&self, key: &CacheKey) -> Result<bool> {
        let path = self.cache_path(key);
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        file.set_modified(SystemTime::now())
            .ctx("set modification time", &path)?;
        Ok(true)
    }

    /// Every usable record (current version, parseable; layer blobs not checked), sorted
    /// by key.
    pub fn cache_records(&self) -> Result<Vec<CacheRecord>> {
        let mut out = Vec::new();
        for (_, key) in self.cache_files()? {
            let Some(key) = key else { continue };
            if let Some((Parsed::Ok(record), mtime)) = self.read_cache_file(&key)? {
                let mut record = *record;
                apply_mtime(&mut record, mtime);
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The records whose parent is `parent`: for `--explain-cache`, the siblings of a miss
    /// (same parent, some input different). Reads every record.
    pub fn cache_find_by_parent(&self, parent: &CacheKey) -> Result<Vec<CacheRecord>> {
        let mut out = self.cache_records()?;
        out.retain(|r| r.parent_key.as_ref() == Some(parent));
        Ok(out)
    }

    /// Removes the records `filter` selects, then garbage-collects (blobs and snapshots that
    /// only those records kept go too). Runs under the exclusive GC lock like [`Store::gc`]:
    /// waits for running builds, and fails with [`Error::LeaseHeld`] when the calling thread
    /// holds a lease. Unusable record files are left for `check`.
    pub fn cache_prune(&self, filter: CachePruneFilter) -> Result<CachePruneReport> {
        let _gc = self.gc_exclusive()?;
        let mut report = CachePruneReport::default();
        let in_images = match filter {
            CachePruneFilter::Dangling(_) => {
                let roots: Vec<Descriptor> = self.read_index()?.manifests.into_iter().collect();
                crate::walk::walk(self, &roots)?.referenced
            }
            _ => BTreeSet::new(),
        };
        for record in self.cache_records()? {
            if !filter.removes(&record, &in_images) {
                continue;
            }
            let path = self.cache_path(&record.key);
            match fs::remove_file(&path) {
                Ok(()) => report.removed.push(record),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", path, e)),
            }
        }
        if !report.removed.is_empty() {
            sync_dir(&self.buildcache_dir())?;
        }
        report.gc = self.gc_locked(&GcOptions::default())?;
        Ok(report)
    }

    /// check: classifies every record file (`corrupt`: blobs found corrupt).
    pub(crate) fn check_cache_records(
        &self,
        corrupt: &BTreeSet<Digest>,
        report: &mut CheckReport,
    ) -> Result<()> {
        for (path, key) in self.cache_files()? {
            let Some(key) = key else {
                report.bad_cache_records.push(BadCacheRecord {
                    path,
                    reason: "name is not <key hex>.json".to_string(),
                });
                continue;
            };
            let Some((parsed, _)) = self.read_cache_file(&key)? else {
                continue;
            };
            report.cache_records_checked += 1;
            match parsed {
                Parsed::Ok(record) => {
                    let Some(layer) = &record.layer else { continue };
                    let present = !corrupt.contains(&layer.digest)
                        && fs::metadata(self.blob_path(&layer.digest))
                            .is_ok_and(|m| m.is_file() && m.len() == layer.size);
                    if !present {
                        report.stale_cache_records.push(key);
                    }
                }
                Parsed::Unsupported => report.unsupported_cache_records.push(path),
                Parsed::Bad(reason) => report
                    .bad_cache_records
                    .push(BadCacheRecord { path, reason }),
            }
        }
        Ok(())
    }

    /// check's repair: removes unusable and stale records.
    pub(crate) fn repair_cache_records(&self, found: &CheckReport, rep: &mut RepairReport) {
        let paths = found
            .bad_cache_records
            .iter()
            .map(|b| b.path.clone())
            .chain(found.stale_cache_records.iter().map(|k| self.cache_path(k)));
        for path in paths {
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            remove_quietly(&path);
            rep.bytes_freed += size;
            rep.files_removed.push(path);
        }
    }
}

/// `last_used` is the later of the stored field and the file's mtime.
fn apply_mtime(record: &mut CacheRecord, mtime: SystemTime) {
    let touched: DateTime<Utc> = mtime.into();
    if touched > record.last_used {
        record.last_used = touched;
    }
}
