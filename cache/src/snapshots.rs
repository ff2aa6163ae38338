//! Snapshots: unpacked layers, used as overlay lower directories.
//!
//! ```text
//! ROOT/strata/v1/snapshots/                      mode 0700 (trees hold setuid binaries)
//! ROOT/strata/v1/snapshots/<diffid hex>/fs/      the layer's tree (the lower dir)
//! ROOT/strata/v1/snapshots/<diffid hex>/snapshot.json   completion marker
//! ROOT/strata/v1/snapshots/.tmp-<random>/        a creation in progress (or a crashed one)
//! ROOT/strata/v1/snapshots/.del-<random>/        a removal in progress (or a crashed one)
//! ROOT/strata/v1/locks/snapshots/<diffid hex>.lock   one creator per layer at a time
//! ```
//!
//! A snapshot is named by the layer's diffID (the digest of the uncompressed tar), so every
//! image and build that has the layer shares one tree. The marker sits beside the tree, not
//! in it, so the tree is exactly the layer's content. A snapshot appears only by renaming a
//! complete temp dir (tree + marker) into place; a dir without a valid marker is garbage.
//!
//! Snapshots cannot be verified against their digest without re-packing them, so `check`
//! only verifies the marker and that some image config or build-cache record still names the
//! diffID. strata-cache never reads tar: the caller's closure fills the tree.
//!
//! Lock order: the lease (gate, then gc.lock shared), then the per-layer lock; the lease is
//! held while the layer lock is, so GC (exclusive) may delete the lock files.
//!
//! Lifetime: a snapshot is kept while an image config reachable from index.json or a
//! build-cache record lists its diffID. A build holds a [`Lease`](crate::Lease) from start
//! to finish, so GC (exclusive) never runs while the build mounts snapshots, and snapshots
//! it created become referenced (by its cache records) before the lease ends.

use crate::check::{CheckReport, RepairReport};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::gc::{GcOptions, GcReport};
use crate::lock::{FileLock, Mode};
use crate::store::{sync_dir, Store};
use crate::walk::Reach;
use chrono::{DateTime, Utc};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const SNAPSHOTS: &str = "snapshots";
const TREE: &str = "fs";
const MARKER: &str = "snapshot.json";
const MARKER_VERSION: u32 = 1;

/// The completion marker: written last, before the rename into place.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    version: u32,
    diff_id: Digest,
    created: DateTime<Utc>,
}

/// A complete snapshot, as listed by [`Store::snapshots`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The layer's diffID (digest of its uncompressed tar).
    pub diff_id: Digest,
    /// The unpacked tree: the overlay lower dir.
    pub path: PathBuf,
    /// When it was created.
    pub created: DateTime<Utc>,
}

/// What is in `snapshots/` (only meaningful as garbage under the exclusive GC lock).
#[derive(Debug, Default)]
pub(crate) struct SnapshotScan {
    /// Complete snapshots: diffID, the `<hex>` dir, the marker's mtime.
    pub complete: Vec<(Digest, PathBuf, SystemTime)>,
    /// Temp dirs, incomplete or mislabelled snapshots, stray files.
    pub garbage: Vec<PathBuf>,
}

impl Store {
    /// `ROOT/strata/v1/snapshots`: unpacked layers.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.metadata_dir().join(SNAPSHOTS)
    }

    fn snapshot_dir(&self, diff_id: &Digest) -> PathBuf {
        self.snapshots_dir().join(diff_id.hex())
    }

    fn snapshot_lock_dir(&self) -> PathBuf {
        self.metadata_dir().join("locks").join(SNAPSHOTS)
    }

    /// The tree of the complete snapshot of the layer `diff_id`, if there is one. One `stat`;
    /// the path stays valid while the caller holds a [`Lease`](crate::Lease) (or the diffID
    /// stays referenced).
    pub fn snapshot(&self, diff_id: &Digest) -> Result<Option<PathBuf>> {
        let dir = self.snapshot_dir(diff_id);
        let marker = dir.join(MARKER);
        match fs::symlink_metadata(&marker) {
            Ok(m) if m.is_file() => Ok(Some(dir.join(TREE))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", marker, e)),
        }
    }

    /// Returns the snapshot of `diff_id`, creating it first when missing: makes an empty
    /// directory inside `snapshots/` (same file system, mode 0755), calls `fill` with its
    /// path (the caller unpacks the layer there, whiteouts as overlay whiteouts; `fill` may
    /// also replace the directory by renaming one onto its path, e.g. a RUN step's upper
    /// dir), writes the completion marker, and renames the whole into place. Nothing is
    /// fsynced: a snapshot can always be made again from its blob, and a torn one (marker
    /// missing, empty or not matching) is garbage to `scan_snapshots`.
    ///
    /// Concurrent calls for one diffID, in threads or processes, fill it once: the others
    /// wait on a per-layer lock and then return the finished snapshot. When `fill` fails
    /// (or panics) its partial tree is removed and the error returned; a process that dies
    /// meanwhile leaves a `.tmp-*` dir that GC and `check --repair` remove. File contents
    /// are not fsynced here (that would cost as much as writing the layer again); `fill` may
    /// sync what it writes.
    ///
    /// Takes its own lease while working; the snapshot then survives GC only while the caller
    /// holds a [`Lease`](crate::Lease) or the diffID is referenced by an image config or a
    /// build-cache record.
    pub fn create_snapshot<E, F>(&self, diff_id: &Digest, fill: F) -> Result<PathBuf, E>
    where
        E: From<Error>,
        F: FnOnce(&Path) -> Result<(), E>,
    {
        let _lease = self.lease()?;
        if let Some(path) = self.snapshot(diff_id)? {
            return Ok(path);
        }
        let dir = self.snapshots_dir();
        let lock_dir = self.snapshot_lock_dir();
        create_private_dir_all(&dir)?;
        fs::create_dir_all(&lock_dir).ctx("create directory", &lock_dir)?;
        let _lock = FileLock::acquire(
            &lock_dir.join(format!("{}.lock", diff_id.hex())),
            Mode::Exclusive,
        )?;
        // Whoever held the lock before us may have created it.
        if let Some(path) = self.snapshot(diff_id)? {
            return Ok(path);
        }
        let tmp = TempTree::create(dir.join(format!(".tmp-{}", random_hex())))?;
        let tree = tmp.path.join(TREE);
        DirBuilder::new()
            .mode(0o755)
            .create(&tree)
            .ctx("create directory", &tree)?;
        fill(&tree)?;
        match fs::symlink_metadata(&tree) {
            Ok(m) if m.is_dir() => {}
            Ok(_) | Err(_) => {
                return Err(Error::Snapshot {
                    path: tree,
                    reason: "the layer was not unpacked into a directory here".to_string(),
                }
                .into())
            }
        }
        // No fsync here (blobs get theirs): a snapshot is a cache of its blob. After a crash
        // a snapshot whose marker did not reach the disk whole fails `scan_snapshots`'
        // check and is garbage that GC and `check --repair` remove, and the next build
        // unpacks the blob again; one that did not appear at all is simply made again.
        write_marker(&tmp.path.join(MARKER), diff_id)?;
        let dest = self.snapshot_dir(diff_id);
        if let Err(e) = fs::rename(&tmp.path, &dest) {
            let taken = [Errno::NOTEMPTY, Errno::EXIST]
                .iter()
                .any(|n| e.raw_os_error() == Some(n.raw_os_error()));
            if !taken {
                return Err(Error::io("rename", dest, e).into());
            }
            // Someone created it without our lock (can't happen between strata processes,
            // but cheap to handle): keep theirs, ours is removed with `tmp`.
            if let Some(path) = self.snapshot(diff_id)? {
                return Ok(path);
            }
            // An incomplete leftover without a marker: move it aside, then take its place.
            let trash = dir.join(format!(".del-{}", random_hex()));
            fs::rename(&dest, &trash).ctx("rename", &dest)?;
            if let Err(e) = remove_tree(&trash) {
                tracing::warn!("{e}");
            }
            fs::rename(&tmp.path, &dest).ctx("rename", &dest)?;
        }
        tmp.disarm();
        Ok(dest.join(TREE))
    }

    /// Every complete snapshot, sorted by diffID. Reads each marker.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let mut out = Vec::new();
        for (diff_id, dir, _) in self.scan_snapshots()?.complete {
            if let Some(marker) = read_marker(&dir.join(MARKER)) {
                out.push(SnapshotInfo {
                    diff_id,
                    path: dir.join(TREE),
                    created: marker.created,
                });
            }
        }
        Ok(out)
    }

    /// Sorts the entries of `snapshots/` into complete snapshots and garbage.
    pub(crate) fn scan_snapshots(&self) -> Result<SnapshotScan> {
        let dir = self.snapshots_dir();
        let mut scan = SnapshotScan::default();
        for entry in crate::store::dir_entries(&dir)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(diff_id) = Digest::from_hex(&name) else {
                scan.garbage.push(path);
                continue;
            };
            let marker_path = path.join(MARKER);
            let complete = read_marker(&marker_path).is_some_and(|m| m.diff_id == diff_id)
                && fs::symlink_metadata(path.join(TREE)).is_ok_and(|m| m.is_dir());
            match fs::symlink_metadata(&marker_path).and_then(|m| m.modified()) {
                Ok(mtime) if complete => scan.complete.push((diff_id, path, mtime)),
                _ => scan.garbage.push(path),
            }
        }
        scan.complete.sort_by_key(|c| c.0);
        scan.garbage.sort();
        Ok(scan)
    }

    /// Removes a snapshot directory (complete or not): renamed aside first, so a crash
    /// halfway leaves a `.del-*` dir (garbage) rather than a damaged snapshot.
    pub(crate) fn remove_snapshot_dir(&self, dir: &Path) -> Result<()> {
        let is_temp = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if is_temp {
            return remove_tree(dir);
        }
        let trash = self.snapshots_dir().join(format!(".del-{}", random_hex()));
        match fs::rename(dir, &trash) {
            Ok(()) => remove_tree(&trash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("rename", dir, e)),
        }
    }

    /// Removes the per-layer lock files. Only under the exclusive GC lock: every creator
    /// holds a lease, so none has one open.
    pub(crate) fn remove_snapshot_locks(&self) {
        let dir = self.snapshot_lock_dir();
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                crate::store::remove_quietly(&entry.path());
            }
        }
    }

    /// diffIDs whose snapshots must stay: those of every image config reachable from
    /// index.json (`image_diff_ids`) and of every build-cache record.
    pub(crate) fn snapshot_refs(
        &self,
        image_diff_ids: &BTreeSet<Digest>,
    ) -> Result<BTreeSet<Digest>> {
        let mut refs = image_diff_ids.clone();
        refs.extend(crate::buildcache::cache_refs(self)?.diff_ids);
        Ok(refs)
    }
}

fn write_marker(path: &Path, diff_id: &Digest) -> Result<()> {
    let marker = Marker {
        version: MARKER_VERSION,
        diff_id: *diff_id,
        created: Utc::now(),
    };
    let bytes = serde_json::to_vec(&marker).map_err(|e| Error::Json {
        what: path.display().to_string(),
        source: e,
    })?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .ctx("create", path)?;
    f.write_all(&bytes).ctx("write", path)
}

fn read_marker(path: &Path) -> Option<Marker> {
    let bytes = fs::read(path).ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    (marker.version == MARKER_VERSION).then_some(marker)
}

pub(crate) fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// Creates `dir` (and parents) with mode 0700 on the last component: the trees inside hold
/// setuid binaries and secrets of images, which other host users must not reach.
pub(crate) fn create_private_dir_all(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).ctx("create directory", parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

/// A temp dir removed on drop (error return or panic in the fill closure) unless disarmed.
struct TempTree {
    path: PathBuf,
    armed: bool,
}

impl TempTree {
    fn create(path: PathBuf) -> Result<TempTree> {
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .ctx("create directory", &path)?;
        Ok(TempTree { path, armed: true })
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove_tree(&self.path) {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Removes a directory tree without following symlinks. Unpacked layers contain read-only
/// directories (and mode 000 ones), which stop an unprivileged remover: on failure every
/// directory gets u+rwx and the removal is retried.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("stat", path, e)),
        Ok(m) if !m.is_dir() => {
            return match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
                _ => Ok(()),
            }
        }
        Ok(_) => {}
    }
    match fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    make_dirs_writable(path);
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove tree", path, e)),
        _ => Ok(()),
    }
}

/// chmod u+rwx on every directory under `root` (iteratively: layers can be very deep).
fn make_dirs_writable(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&dir) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = fs::set_permissions(&dir, Permissions::from_mode((mode | 0o700) & 0o7777));
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
}

/// Disk space used by a tree (allocated blocks, hardlinked files counted once), without
/// following symlinks. Unreadable parts count as zero.
pub(crate) fn tree_size(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

impl Store {
    /// GC's snapshot pass (under the exclusive lock): removes unreferenced snapshots and
    /// leftover temp dirs, and the per-layer lock files.
    pub(crate) fn gc_snapshots(
        &self,
        reach: &Reach,
        opts: &GcOptions,
        now: SystemTime,
        report: &mut GcReport,
    ) -> Result<()> {
        let scan = self.scan_snapshots()?;
        let refs = self.snapshot_refs(&reach.diff_ids)?;
        let judge = reach.bad_configs.is_empty();
        if !judge && !scan.complete.is_empty() {
            tracing::warn!(
                "gc: keeping every snapshot: config {} is unreadable (run `strata system check`)",
                reach.bad_configs[0]
            );
        }
        let mut removed_any = false;
        for (diff_id, dir, mtime) in scan.complete {
            let young = opts
                .min_age
                .is_some_and(|age| now.duration_since(mtime).unwrap_or_default() < age);
            if !judge || refs.contains(&diff_id) || young {
                report.snapshots_kept += 1;
                continue;
            }
            let size = tree_size(&dir);
            if !opts.dry_run {
                // One stuck snapshot (say, still mounted somewhere) must not stop the rest.
                if let Err(e) = self.remove_snapshot_dir(&dir) {
                    tracing::warn!("gc: {e}");
                    report.snapshots_kept += 1;
                    continue;
                }
                removed_any = true;
            }
            tracing::debug!("gc: removed snapshot {diff_id} ({size} bytes)");
            report.snapshot_bytes_freed += size;
            report.snapshots_removed.push((diff_id, size));
        }
        for path in scan.garbage {
            let size = tree_size(&path);
            if !opts.dry_run {
                if let Err(e) = self.remove_snapshot_dir(&path) {
                    tracing::warn!("gc: {e}");
                    continue;
                }
                removed_any = true;
            }
            report.temp_files_removed += 1;
            report.temp_bytes_freed += size;
        }
        if !opts.dry_run {
            self.remove_snapshot_locks();
            if removed_any {
                sync_dir(&self.snapshots_dir())?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// check: lists complete snapshots, garbage, and (when the diffIDs in use are known)
    /// unreferenced snapshots.
    pub(crate) fn check_snapshots(
        &self,
        image_diff_ids: Option<&BTreeSet<Digest>>,
        report: &mut CheckReport,
    ) -> Result<()> {
        let scan = self.scan_snapshots()?;
        report.snapshots_checked = scan.complete.len();
        report.snapshot_garbage = scan.garbage;
        if let Some(ids) = image_diff_ids {
            let refs = self.snapshot_refs(ids)?;
            report.unreferenced_snapshots = scan
                .complete
                .into_iter()
                .map(|(d, _, _)| d)
                .filter(|d| !refs.contains(d))
                .collect();
        }
        Ok(())
    }

    /// check's repair: removes the temp and incomplete snapshot dirs found.
    pub(crate) fn repair_snapshot_garbage(&self, found: &CheckReport, rep: &mut RepairReport) {
        for path in &found.snapshot_garbage {
            let size = tree_size(path);
            match self.remove_snapshot_dir(path) {
                Ok(()) => {
                    rep.bytes_freed += size;
                    rep.files_removed.push(path.clone());
                }
                Err(e) => tracing::warn!("check: {e}"),
            }
        }
    }

    /// check's repair, after records and catalogue entries were repaired: removes snapshots
    /// nothing lists any more (none when `reach` is incomplete).
    pub(crate) fn repair_unreferenced_snapshots(
        &self,
        reach: &Reach,
        rep: &mut RepairReport,
    ) -> Result<()> {
        if reach.incomplete().is_some() || !reach.bad_configs.is_empty() {
            return Ok(());
        }
        let refs = self.snapshot_refs(&reach.diff_ids)?;
        for (diff_id, dir, _) in self.scan_snapshots()?.complete {
            if refs.contains(&diff_id) {
                continue;
            }
            let size = tree_size(&dir);
            match self.remove_snapshot_dir(&dir) {
                Ok(()) => {
                    rep.bytes_freed += size;
                    rep.files_removed.push(dir);
                }
                Err(e) => tracing::warn!("check: {e}"),
            }
        }
        self.remove_snapshot_locks();
        if self.snapshots_dir().is_dir() {
            sync_dir(&self.snapshots_dir())?;
        }
        Ok(())
    }
}
