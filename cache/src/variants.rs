//! Layer variants: the blob that holds a layer's content (its diffID) in another
//! compression, made when `push --compression` re-compressed a stored layer, so the next
//! push of any image with that layer reuses it instead of compressing again.
//!
//! ```text
//! ROOT/strata/v1/variants/v1/<diffID hex>-<compression>.json    one record per pair
//! ```
//!
//! A record is written to `strata/v1/tmp/`, fsynced and renamed into place. Records are a
//! cache: a missing, unreadable or other-version record, or one whose blob is gone, is a
//! miss. A variant's blob stays (is a GC root) while some reachable image config lists its
//! diffID; with the last such image it becomes garbage like any unreferenced blob.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::Descriptor;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;

/// The record format this build reads and writes ([`LayerVariant::version`]).
pub const VARIANT_RECORD_VERSION: u32 = 1;

const VARIANTS: &str = "variants";
const LAYOUT: &str = "v1";

/// One layer content in one compression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerVariant {
    /// Record format; [`VARIANT_RECORD_VERSION`] for records this build writes.
    pub version: u32,
    /// The layer's diffID (sha256 of the uncompressed tar).
    pub diff_id: Digest,
    /// The compression: `gzip`, `zstd` or `none`.
    pub compression: String,
    /// The compression level it was made with (informative: any level is reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i32>,
    /// The blob (its media type is the OCI layer type of `compression`).
    pub blob: Descriptor,
    /// The stored blob it was made from.
    pub source: Digest,
    /// When it was made.
    pub created: DateTime<Utc>,
}

fn valid_compression(name: &str) -> bool {
    matches!(name, "gzip" | "zstd" | "none")
}

impl Store {
    fn variants_dir(&self) -> PathBuf {
        self.metadata_dir().join(VARIANTS).join(LAYOUT)
    }

    fn variant_path(&self, diff_id: &Digest, compression: &str) -> PathBuf {
        self.variants_dir()
            .join(format!("{}-{compression}.json", diff_id.hex()))
    }

    /// The recorded variant of the layer `diff_id` in `compression`, when its blob is still
    /// in the store.
    pub fn variant_get(&self, diff_id: &Digest, compression: &str) -> Result<Option<LayerVariant>> {
        if !valid_compression(compression) {
            return Ok(None);
        }
        let path = self.variant_path(diff_id, compression);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let record: LayerVariant = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("{}: ignoring: {e}", path.display());
                return Ok(None);
            }
        };
        if record.version != VARIANT_RECORD_VERSION
            || record.diff_id != *diff_id
            || record.compression != compression
        {
            return Ok(None);
        }
        if !self.has_blob(&record.blob.digest)?
            || self.blob_size(&record.blob.digest)? != record.blob.size
        {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Records `variant` (its blob must be in the store). Call it under a [`Lease`] taken
    /// before the blob was written, so GC cannot take the blob before the record exists.
    ///
    /// [`Lease`]: crate::Lease
    pub fn variant_put(&self, variant: &LayerVariant) -> Result<()> {
        let path = self.variant_path(&variant.diff_id, &variant.compression);
        let invalid = |reason: String| Error::CacheRecord {
            path: path.clone(),
            reason,
        };
        if variant.version != VARIANT_RECORD_VERSION {
            return Err(invalid(format!(
                "version {} (this strata writes {VARIANT_RECORD_VERSION})",
                variant.version
            )));
        }
        if !valid_compression(&variant.compression) {
            return Err(invalid(format!(
                "unknown compression {:?}",
                variant.compression
            )));
        }
        if !self.has_blob(&variant.blob.digest)? {
            return Err(Error::BlobNotFound(variant.blob.digest));
        }
        let bytes = serde_json::to_vec_pretty(variant).map_err(|e| Error::Json {
            what: path.display().to_string(),
            source: e,
        })?;
        let _lease = self.lease()?;
        crate::store::write_file_atomic(self, &self.variants_dir(), &path, &bytes)
    }
}

/// The variant blobs GC must keep: those whose diffID `live` lists (the diffIDs of the
/// reachable image configs), or all of them when `live` is unknown (`None`).
pub(crate) fn variant_roots(
    store: &Store,
    live: Option<&BTreeSet<Digest>>,
) -> Result<BTreeMap<Digest, String>> {
    let dir = store.variants_dir();
    let mut out = BTreeMap::new();
    for entry in crate::store::dir_entries(&dir)? {
        let path = entry.path();
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<LayerVariant>(&bytes) else {
            continue;
        };
        if live.is_none_or(|l| l.contains(&record.diff_id)) {
            out.insert(record.blob.digest, "layer variant".to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(store: &Store, data: &[u8]) -> LayerVariant {
        let (digest, size) = store.put_bytes(data, None).unwrap();
        LayerVariant {
            version: VARIANT_RECORD_VERSION,
            diff_id: Digest::of_bytes(b"tar"),
            compression: "zstd".into(),
            level: Some(3),
            blob: Descriptor::new(crate::oci::media_type::OCI_LAYER_TAR_ZSTD, digest, size),
            source: Digest::of_bytes(b"gz"),
            created: Utc::now(),
        }
    }

    #[test]
    fn put_get_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lease = store.lease().unwrap();
        let v = variant(&store, b"zstd bytes");
        store.variant_put(&v).unwrap();
        drop(lease);
        assert_eq!(
            store.variant_get(&v.diff_id, "zstd").unwrap(),
            Some(v.clone())
        );
        assert_eq!(store.variant_get(&v.diff_id, "gzip").unwrap(), None);
        assert_eq!(store.variant_get(&v.diff_id, "../x").unwrap(), None);
        // Another version is a miss, not an error.
        let path = store.variant_path(&v.diff_id, "zstd");
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("\"version\": 1", "\"version\": 9");
        fs::write(&path, text).unwrap();
        assert_eq!(store.variant_get(&v.diff_id, "zstd").unwrap(), None);
    }

    #[test]
    fn gc_keeps_a_variant_only_while_an_image_has_its_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lease = store.lease().unwrap();
        let v = variant(&store, b"variant blob");
        store.variant_put(&v).unwrap();
        drop(lease);
        // No image lists the diffID: the blob is garbage, and the record then a miss.
        let roots = variant_roots(&store, Some(&BTreeSet::new())).unwrap();
        assert!(roots.is_empty());
        let live: BTreeSet<Digest> = [v.diff_id].into();
        let roots = variant_roots(&store, Some(&live)).unwrap();
        assert!(roots.contains_key(&v.blob.digest));
        assert!(variant_roots(&store, None)
            .unwrap()
            .contains_key(&v.blob.digest));
        let report = store.gc(&Default::default()).unwrap();
        assert_eq!(report.blobs_removed(), 1);
        assert_eq!(store.variant_get(&v.diff_id, "zstd").unwrap(), None);
    }
}
