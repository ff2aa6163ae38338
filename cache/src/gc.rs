//! Garbage collection: remove every blob that index.json, the build-cache records and the
//! roots files do not reach, and every snapshot whose diffID no reachable image config and
//! no build-cache record lists.
//!
//! GC holds the GC lock exclusively, so it waits for every [`Lease`](crate::Lease) (and
//! every open [`BlobWriter`](crate::BlobWriter)) to end and none starts while it runs: a blob
//! another command wrote but has not referenced yet is never seen as garbage, and every file
//! left in `strata/v1/tmp/` belongs to a command that died.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::{remove_temp_entry, sync_dir, Store, INDEX_TMP};
use crate::walk::{extra_roots, walk_all};
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How [`Store::gc`] runs.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Report what would be removed without removing anything.
    pub dry_run: bool,
    /// Keep unreferenced blobs modified less than this long ago (a grace period on top of
    /// leases, for callers that want one).
    pub min_age: Option<Duration>,
}

/// What [`Store::gc`] removed (or would remove, with `dry_run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The unreferenced blobs removed, with their sizes.
    pub removed: Vec<(Digest, u64)>,
    /// Sum of the removed blobs' sizes.
    pub bytes_freed: u64,
    /// Leftover temp files removed (from commands that died).
    pub temp_files_removed: usize,
    /// Their total size.
    pub temp_bytes_freed: u64,
    /// Blobs that stay.
    pub blobs_kept: usize,
    /// Unreferenced blobs kept because they are younger than `min_age`.
    pub kept_young: usize,
    /// The unreferenced snapshots removed (diffID, bytes on disk).
    pub snapshots_removed: Vec<(Digest, u64)>,
    /// Sum of their sizes.
    pub snapshot_bytes_freed: u64,
    /// Snapshots that stay.
    pub snapshots_kept: usize,
}

impl GcReport {
    /// Number of blobs removed.
    pub fn blobs_removed(&self) -> usize {
        self.removed.len()
    }

    /// Everything freed: blobs, snapshots and temp files.
    pub fn total_bytes_freed(&self) -> u64 {
        self.bytes_freed + self.snapshot_bytes_freed + self.temp_bytes_freed
    }
}

impl Store {
    /// Removes every blob not reachable from index.json (index -> manifests -> config,
    /// layers; nested indexes; subjects) nor kept by a build-cache record or a roots file,
    /// every snapshot whose diffID no reachable config nor cache record lists (all are kept
    /// when a reachable config is unreadable), and every leftover temp file or temp
    /// snapshot dir (counted as temp files). Blocks until no lease is held. Refuses to run (with [`Error::Unreachable`]) when a
    /// referenced manifest or index cannot be parsed, since its blobs could not be told apart
    /// from garbage; `check` with repair fixes that. Fails with [`Error::LeaseHeld`] when the
    /// calling thread holds a [`Lease`](crate::Lease) on this store.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let _gc = self.gc_exclusive()?;
        self.gc_locked(opts)
    }

    /// [`Store::gc`] for a caller holding the exclusive GC lock.
    pub(crate) fn gc_locked(&self, opts: &GcOptions) -> Result<GcReport> {
        let index = self.read_index()?;
        let reach = walk_all(self, &index)?;
        if let Some((digest, reason)) = reach.incomplete() {
            return Err(Error::Unreachable {
                digest: *digest,
                reason: reason.to_string(),
            });
        }
        let mut roots = extra_roots(self)?;
        let live = reach.bad_configs.is_empty().then_some(&reach.diff_ids);
        roots.extend(crate::variants::variant_roots(self, live)?);
        let now = SystemTime::now();
        let mut report = GcReport::default();
        for (digest, size) in self.list_blobs()? {
            if reach.referenced.contains(&digest) || roots.contains_key(&digest) {
                report.blobs_kept += 1;
                continue;
            }
            let path = self.blob_path(&digest);
            if let Some(min_age) = opts.min_age {
                let young = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default() < min_age)
                    .unwrap_or(false);
                if young {
                    report.kept_young += 1;
                    report.blobs_kept += 1;
                    continue;
                }
            }
            if !opts.dry_run {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("remove", path, e)),
                }
            }
            tracing::debug!("gc: removed {digest} ({size} bytes)");
            report.bytes_freed += size;
            report.removed.push((digest, size));
        }
        for (path, size) in self.temp_files()? {
            if !opts.dry_run {
                remove_temp_entry(&path);
            }
            report.temp_files_removed += 1;
            report.temp_bytes_freed += size;
        }
        if !opts.dry_run && !report.removed.is_empty() {
            sync_dir(self.blobs_dir())?;
        }
        self.gc_snapshots(&reach, opts, now, &mut report)?;
        // Maps of removed blobs describe nothing any more.
        crate::blockmaps::prune_blockmaps(self, opts.dry_run)?;
        Ok(report)
    }

    /// Files in `strata/v1/tmp/` and a leftover `index.json.tmp`, with their sizes. Only
    /// garbage when no command is running (under the exclusive GC lock).
    pub(crate) fn temp_files(&self) -> Result<Vec<(std::path::PathBuf, u64)>> {
        let mut out = Vec::new();
        let tmp = self.tmp_dir();
        match fs::read_dir(&tmp) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((entry.path(), size));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read directory", tmp, e)),
        }
        let index_tmp = self.root().join(INDEX_TMP);
        if let Some(size) = file_size(&index_tmp) {
            out.push((index_tmp, size));
        }
        out.sort();
        Ok(out)
    }
}

fn file_size(path: &Path) -> Option<u64> {
    fs::symlink_metadata(path).ok().map(|m| m.len())
}
