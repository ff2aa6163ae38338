//! `system check`: verify every blob and every reference, the snapshots' markers and the
//! build-cache records; optionally repair.
//!
//! Runs under the exclusive GC lock, so no command writes while it looks and everything in
//! `strata/v1/tmp/` is left over from a command that died.

use crate::buildcache::CacheKey;
use crate::digest::{Digest, DigestReader};
use crate::error::{Error, IoContext, Result};
use crate::oci::{media_type, Descriptor};
use crate::store::{remove_quietly, sync_dir, Store};
use crate::walk::{extra_roots, walk_all, Problem};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

/// A blob whose content does not hash to its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlob {
    /// The blob's name.
    pub digest: Digest,
    /// What its content hashes to.
    pub actual: Digest,
    /// Its size.
    pub size: u64,
}

/// A referenced blob that is not in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBlob {
    /// The missing blob.
    pub digest: Digest,
    /// The manifest or index referring to it; None for an index.json entry.
    pub referenced_by: Option<Digest>,
}

/// A referenced document that is present but unusable, or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBlob {
    /// The document.
    pub digest: Digest,
    /// What is wrong.
    pub reason: String,
}

/// A build-cache record file that is not a usable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCacheRecord {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// What `check` with repair changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Files and directories removed (temp files, corrupt and unreferenced blobs, stray
    /// files, snapshot dirs, cache record files).
    pub files_removed: Vec<PathBuf>,
    /// Their total size.
    pub bytes_freed: u64,
    /// Catalogue entries dropped because their manifest was missing, corrupt or unparseable.
    pub entries_removed: Vec<Descriptor>,
    /// Unreferenced blobs were kept because some document could not be followed.
    pub kept_unreferenced: bool,
}

/// Findings of [`Store::check`] (as found, before any repair).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blobs hashed.
    pub blobs_checked: usize,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// index.json could not be read or parsed.
    pub index_error: Option<String>,
    /// Blobs whose content does not match their name.
    pub corrupt: Vec<CorruptBlob>,
    /// Blobs referenced (by index.json or an image manifest) but absent.
    pub missing: Vec<MissingBlob>,
    /// Platform manifests an index lists but the store does not hold (normal after pulling
    /// one platform; informational).
    pub absent_platforms: Vec<MissingBlob>,
    /// Referenced documents that cannot be parsed, or whose declared size or layer list is
    /// inconsistent.
    pub invalid: Vec<InvalidBlob>,
    /// index.json entries whose manifest is missing, corrupt or unparseable.
    pub broken_entries: Vec<Descriptor>,
    /// Blobs nothing refers to, with their sizes (what GC would remove).
    pub unreferenced: Vec<(Digest, u64)>,
    /// Leftover temp files (`strata/v1/tmp/*`, `index.json.tmp`).
    pub temp_files: Vec<PathBuf>,
    /// Files in `blobs/sha256/` that are not named by a digest.
    pub stray_files: Vec<PathBuf>,
    /// Complete snapshots (valid marker) examined.
    pub snapshots_checked: usize,
    /// Complete snapshots whose diffID no reachable image config nor build-cache record
    /// lists (what GC would remove).
    pub unreferenced_snapshots: Vec<Digest>,
    /// Entries of `snapshots/` that are not complete snapshots: temp dirs of crashed
    /// creations or removals, dirs without a valid marker, stray files.
    pub snapshot_garbage: Vec<PathBuf>,
    /// Build-cache records read.
    pub cache_records_checked: usize,
    /// Record files that are not usable records (corrupt, misnamed); cache misses.
    pub bad_cache_records: Vec<BadCacheRecord>,
    /// Records whose layer blob is missing or corrupt; cache misses.
    pub stale_cache_records: Vec<CacheKey>,
    /// Records of another format version (informational; left alone).
    pub unsupported_cache_records: Vec<PathBuf>,
    /// Entries of `containers/` that are not complete containers: temp dirs of crashed
    /// creations or removals, dirs without a readable record.
    pub container_garbage: Vec<PathBuf>,
    /// Set when `repair` was asked.
    pub repaired: Option<RepairReport>,
}

impl CheckReport {
    /// No corruption and every reference resolves (garbage may remain).
    pub fn is_consistent(&self) -> bool {
        self.index_error.is_none()
            && self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.invalid.is_empty()
            && self.broken_entries.is_empty()
    }

    /// Consistent and without garbage.
    pub fn is_clean(&self) -> bool {
        self.is_consistent() && !self.has_garbage()
    }

    /// Unreferenced blobs or snapshots, temp files, stray files, or unusable cache records
    /// are present.
    pub fn has_garbage(&self) -> bool {
        !self.unreferenced.is_empty()
            || !self.temp_files.is_empty()
            || !self.stray_files.is_empty()
            || !self.unreferenced_snapshots.is_empty()
            || !self.snapshot_garbage.is_empty()
            || !self.bad_cache_records.is_empty()
            || !self.stale_cache_records.is_empty()
            || !self.container_garbage.is_empty()
    }
}

impl Store {
    /// Verifies every blob's sha256 against its name and every reference in index.json
    /// (manifests, configs, layers, nested indexes), and lists garbage. With `repair`, removes
    /// garbage (unreferenced blobs and snapshots, temp files and dirs, unusable or stale
    /// cache records) and corrupt blobs and drops catalogue entries whose manifest is gone; missing
    /// layers of a present manifest cannot be repaired here (pull or build the image again).
    /// Blocks until no lease is held; fails with [`Error::LeaseHeld`] when the calling thread
    /// holds one.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let _gc = self.gc_exclusive()?;
        let mut report = CheckReport::default();
        let corrupt = self.verify_blobs(&mut report)?;
        report.temp_files = self.temp_files()?.into_iter().map(|(p, _)| p).collect();

        let index = match self.read_index() {
            Ok(i) => Some(i),
            Err(e @ Error::Json { .. }) => {
                report.index_error = Some(e.to_string());
                None
            }
            Err(e) => return Err(e),
        };
        let mut referenced = BTreeSet::new();
        // None: the diffIDs in use are unknown (index or a config unreadable).
        let mut image_diff_ids = None;
        let mut broken_top = BTreeSet::new();
        if let Some(index) = &index {
            let reach = walk_all(self, index)?;
            for problem in &reach.problems {
                match problem {
                    Problem::Missing {
                        digest,
                        parent,
                        parent_is_index,
                    } => {
                        let m = MissingBlob {
                            digest: *digest,
                            referenced_by: *parent,
                        };
                        if *parent_is_index {
                            report.absent_platforms.push(m);
                        } else {
                            report.missing.push(m);
                        }
                    }
                    Problem::Unreadable { digest, reason } => report.invalid.push(InvalidBlob {
                        digest: *digest,
                        reason: reason.clone(),
                    }),
                    Problem::SizeMismatch {
                        digest,
                        declared,
                        actual,
                    } => report.invalid.push(InvalidBlob {
                        digest: *digest,
                        reason: format!("descriptor says {declared} bytes, blob has {actual}"),
                    }),
                }
            }
            self.check_layer_counts(index, &corrupt, &mut report);
            // Entries whose own document is gone or unusable.
            for d in &index.manifests {
                let unusable = corrupt.contains(&d.digest)
                    || reach.problems.iter().any(|p| match p {
                        Problem::Missing { digest, parent, .. } => {
                            *digest == d.digest && parent.is_none()
                        }
                        Problem::Unreadable { digest, .. } => *digest == d.digest,
                        Problem::SizeMismatch { .. } => false,
                    });
                if unusable && broken_top.insert(d.digest) {
                    report.broken_entries.push(d.clone());
                }
            }
            referenced = reach.referenced;
            if reach.bad_configs.is_empty() {
                image_diff_ids = Some(reach.diff_ids);
            }
        }
        self.check_cache_records(&corrupt, &mut report)?;
        report.container_garbage = self.scan_containers()?.1;
        self.check_snapshots(image_diff_ids.as_ref(), &mut report)?;
        let mut roots = extra_roots(self)?;
        roots.extend(crate::variants::variant_roots(
            self,
            image_diff_ids.as_ref(),
        )?);
        if index.is_some() {
            report.unreferenced = self
                .list_blobs()?
                .into_iter()
                .filter(|(d, _)| {
                    !referenced.contains(d) && !roots.contains_key(d) && !corrupt.contains(d)
                })
                .collect();
        }
        if repair {
            report.repaired = Some(self.repair(&report, index.is_some())?);
        }
        Ok(report)
    }

    /// Hashes every blob; returns the corrupt ones' digests.
    fn verify_blobs(&self, report: &mut CheckReport) -> Result<BTreeSet<Digest>> {
        let dir = self.blobs_dir();
        let mut corrupt = BTreeSet::new();
        for entry in fs::read_dir(dir).ctx("read directory", dir)? {
            let entry = entry.ctx("read directory", dir)?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().ctx("stat", &path)?.is_file();
            let Ok(digest) = Digest::from_hex(&name) else {
                report.stray_files.push(path);
                continue;
            };
            if !is_file {
                report.stray_files.push(path);
                continue;
            }
            let file = File::open(&path).ctx("open", &path)?;
            let mut reader = DigestReader::new(file);
            io::copy(&mut reader, &mut io::sink()).ctx("read", &path)?;
            let (_, actual, size) = reader.finish();
            report.blobs_checked += 1;
            report.bytes_checked += size;
            if actual != digest {
                corrupt.insert(digest);
                report.corrupt.push(CorruptBlob {
                    digest,
                    actual,
                    size,
                });
            }
        }
        report.corrupt.sort_by_key(|c| c.digest);
        report.stray_files.sort();
        Ok(corrupt)
    }

    /// An image manifest must have as many layers as its config has diff IDs.
    fn check_layer_counts(
        &self,
        index: &crate::oci::ImageIndex,
        corrupt: &BTreeSet<Digest>,
        report: &mut CheckReport,
    ) {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Descriptor> = index.manifests.clone();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest) || corrupt.contains(&d.digest) {
                continue;
            }
            if media_type::is_index(&d.media_type) {
                if let Ok(i) = self.image_index(&d.digest) {
                    stack.extend(i.manifests);
                }
                continue;
            }
            if !media_type::is_manifest(&d.media_type) {
                continue;
            }
            let Ok(m) = self.manifest(&d.digest) else {
                continue; // reported by the walk
            };
            if !media_type::is_config(&m.config.media_type) || corrupt.contains(&m.config.digest) {
                continue;
            }
            match self.config(&m) {
                Ok(c) if c.rootfs.diff_ids.len() != m.layers.len() => {
                    report.invalid.push(InvalidBlob {
                        digest: d.digest,
                        reason: format!(
                            "manifest has {} layers but its config {} lists {} diff IDs",
                            m.layers.len(),
                            m.config.digest,
                            c.rootfs.diff_ids.len()
                        ),
                    })
                }
                Ok(_) | Err(Error::BlobNotFound(_)) => {}
                Err(e) => report.invalid.push(InvalidBlob {
                    digest: m.config.digest,
                    reason: e.to_string(),
                }),
            }
        }
    }

    fn repair(&self, found: &CheckReport, index_ok: bool) -> Result<RepairReport> {
        let mut rep = RepairReport::default();
        let remove = |path: PathBuf, size: u64, rep: &mut RepairReport| {
            remove_quietly(&path);
            rep.bytes_freed += size;
            rep.files_removed.push(path);
        };
        for path in &found.temp_files {
            let size = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
            // A killed build's scratch directory is a tree.
            crate::store::remove_temp_entry(path);
            rep.bytes_freed += size;
            rep.files_removed.push(path.clone());
        }
        for path in &found.stray_files {
            if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                // Never delete directory trees we don't understand; report only.
                continue;
            }
            let size = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
            remove(path.clone(), size, &mut rep);
        }
        for c in &found.corrupt {
            remove(self.blob_path(&c.digest), c.size, &mut rep);
        }
        // Before the roots are recomputed below, so what only these records kept goes too.
        self.repair_cache_records(found, &mut rep);
        self.repair_snapshot_garbage(found, &mut rep);
        for (path, size) in self.remove_container_garbage(&found.container_garbage) {
            rep.bytes_freed += size;
            rep.files_removed.push(path);
        }
        if !index_ok {
            // Without a readable index everything would look unreferenced.
            rep.kept_unreferenced = true;
            sync_dir(self.blobs_dir())?;
            return Ok(rep);
        }
        if !found.broken_entries.is_empty() {
            let broken: BTreeSet<Digest> = found.broken_entries.iter().map(|d| d.digest).collect();
            rep.entries_removed = self.update_index_locked(|cat| {
                let mut removed = Vec::new();
                for digest in &broken {
                    if cat.index().manifests.iter().any(|d| d.digest == *digest) {
                        cat.remove_image(digest)?;
                        removed.extend(
                            found
                                .broken_entries
                                .iter()
                                .filter(|d| d.digest == *digest)
                                .cloned(),
                        );
                    }
                }
                Ok(removed)
            })?;
        }
        // Recompute: dropped entries may have orphaned more blobs.
        let index = self.read_index()?;
        let reach = walk_all(self, &index)?;
        self.repair_unreferenced_snapshots(&reach, &mut rep)?;
        if reach.incomplete().is_some() {
            rep.kept_unreferenced = true;
        } else {
            let mut roots = extra_roots(self)?;
            let live = reach.bad_configs.is_empty().then_some(&reach.diff_ids);
            roots.extend(crate::variants::variant_roots(self, live)?);
            for (digest, size) in self.list_blobs()? {
                if !reach.referenced.contains(&digest) && !roots.contains_key(&digest) {
                    remove(self.blob_path(&digest), size, &mut rep);
                }
            }
        }
        sync_dir(self.blobs_dir())?;
        Ok(rep)
    }
}
