//! Disk usage for `system df`: per-image sizes, sharing, reclaimable bytes.
//!
//! Read-only and lock-free: figures are a snapshot that a concurrent command may change.

use crate::catalogue::{images_of, ImageEntry};
use crate::digest::Digest;
use crate::error::Result;
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
    /// Bytes of blobs kept only by the roots files (build cache).
    pub roots_only_bytes: u64,
    /// Bytes of blobs nothing refers to (freed by GC).
    pub unreferenced_bytes: u64,
    /// Unique bytes of dangling images (freed by `image prune` then GC).
    pub dangling_bytes: u64,
    /// Bytes of leftover temp files (only garbage when no command is running).
    pub temp_bytes: u64,
}

impl DiskUsage {
    /// What `image prune` plus GC would free: dangling images' unique blobs and unreferenced
    /// blobs.
    pub fn reclaimable_bytes(&self) -> u64 {
        self.dangling_bytes + self.unreferenced_bytes
    }
}

impl Store {
    /// Computes disk usage. Blobs missing from the store count as zero bytes.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let index = self.read_index()?;
        let sizes: BTreeMap<Digest, u64> = self.list_blobs()?.into_iter().collect();
        let mut per_image = Vec::new();
        let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
        for entry in images_of(&index) {
            let reach = walk(self, std::slice::from_ref(&entry.descriptor))?;
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
        Ok(usage)
    }
}
