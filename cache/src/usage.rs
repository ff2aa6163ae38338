//! Disk usage for `system df`: per-image sizes, sharing, reclaimable bytes.
//!
//! Read-only and lock-free: figures are a snapshot that a concurrent command may change.

use crate::catalogue::{images_of, ImageEntry};
use crate::digest::Digest;
use crate::error::Result;
use crate::snapshots::tree_size;
use crate::store::Store;
use crate::walk::{extra_roots, walk};
use std::collections::{BTreeMap, BTreeSet};

/// Usage of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    /// The image.
    pub entry: ImageEntry,
    /// Bytes of every distinct blob of the image present in the store (manifest, config,
    /// layers; nested indexes included).
    pub size: u64,
    /// Part of `size` in blobs that other images use too.
    pub shared_size: u64,
    /// Part of `size` only this image uses (what removing it alone would free).
    pub unique_size: u64,
}

/// Store-wide usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// One row per image, in index.json order.
    pub images: Vec<ImageUsage>,
    /// Number of blobs in the store.
    pub blob_count: usize,
    /// Bytes of all blobs.
    pub total_bytes: u64,
    /// Bytes of blobs reachable from some image (each blob counted once).
    pub images_bytes: u64,
    /// Bytes of blobs kept only by the build cache (its records' layers, roots files).
    pub roots_only_bytes: u64,
    /// Bytes of blobs nothing refers to (freed by GC).
    pub unreferenced_bytes: u64,
    /// Unique bytes of dangling images (freed by `image prune` then GC).
    pub dangling_bytes: u64,
    /// Bytes of leftover temp files (only garbage when no command is running).
    pub temp_bytes: u64,
    /// Number of complete snapshots (unpacked layers).
    pub snapshots: usize,
    /// Disk space of all snapshots, temp snapshot dirs included (a walk of every tree).
    pub snapshot_bytes: u64,
    /// Part of `snapshot_bytes` in snapshots only the build cache lists.
    pub cache_only_snapshot_bytes: u64,
    /// Part of `snapshot_bytes` in snapshots nothing lists, and temp snapshot dirs (freed by
    /// GC).
    pub unreferenced_snapshot_bytes: u64,
    /// Number of usable build-cache records.
    pub cache_records: usize,
}

impl DiskUsage {
    /// What `image prune` plus GC would free: dangling images' unique blobs, unreferenced
    /// blobs and unreferenced snapshots.
    pub fn reclaimable_bytes(&self) -> u64 {
        self.dangling_bytes + self.unreferenced_bytes + self.unreferenced_snapshot_bytes
    }
}

impl Store {
    /// Computes disk usage. Blobs missing from the store count as zero bytes. Walks every
    /// snapshot tree to size it, so it takes a while on a large store.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let index = self.read_index()?;
        let sizes: BTreeMap<Digest, u64> = self.list_blobs()?.into_iter().collect();
        let mut per_image = Vec::new();
        let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
        let mut image_diff_ids = BTreeSet::new();
        for entry in images_of(&index) {
            let reach = walk(self, std::slice::from_ref(&entry.descriptor))?;
            image_diff_ids.extend(reach.diff_ids);
            let present: BTreeSet<Digest> = reach
                .referenced
                .into_iter()
                .filter(|d| sizes.contains_key(d))
                .collect();
            for d in &present {
                *users.entry(*d).or_default() += 1;
            }
            per_image.push((entry, present));
        }
        let roots = extra_roots(self)?;
        let mut usage = DiskUsage {
            blob_count: sizes.len(),
            total_bytes: sizes.values().sum(),
            temp_bytes: self.temp_files()?.iter().map(|(_, s)| s).sum(),
            ..DiskUsage::default()
        };
        for (digest, size) in &sizes {
            if users.contains_key(digest) {
                usage.images_bytes += size;
            } else if roots.contains_key(digest) {
                usage.roots_only_bytes += size;
            } else {
                usage.unreferenced_bytes += size;
            }
        }
        for (entry, present) in per_image {
            let mut row = ImageUsage {
                entry,
                size: 0,
                shared_size: 0,
                unique_size: 0,
            };
            for d in &present {
                let size = sizes[d];
                row.size += size;
                if users[d] > 1 || roots.contains_key(d) {
                    row.shared_size += size;
                } else {
                    row.unique_size += size;
                }
            }
            if row.entry.is_dangling() {
                usage.dangling_bytes += row.unique_size;
            }
            usage.images.push(row);
        }
        self.snapshot_usage(&image_diff_ids, &mut usage)?;
        usage.cache_records = self.cache_records()?.len();
        Ok(usage)
    }

    fn snapshot_usage(
        &self,
        image_diff_ids: &BTreeSet<Digest>,
        usage: &mut DiskUsage,
    ) -> Result<()> {
        let scan = self.scan_snapshots()?;
        let cache = crate::buildcache::cache_refs(self)?.diff_ids;
        usage.snapshots = scan.complete.len();
        for (diff_id, dir, _) in &scan.complete {
            let size = tree_size(dir);
            usage.snapshot_bytes += size;
            if image_diff_ids.contains(diff_id) {
                continue;
            }
            if cache.contains(diff_id) {
                usage.cache_only_snapshot_bytes += size;
            } else {
                usage.unreferenced_snapshot_bytes += size;
            }
        }
        for path in &scan.garbage {
            let size = tree_size(path);
            usage.snapshot_bytes += size;
            usage.unreferenced_snapshot_bytes += size;
        }
        Ok(())
    }
}
