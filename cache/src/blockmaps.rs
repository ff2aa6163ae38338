//! Block maps: where each independently compressed block of a layer blob lies, so that the
//! next layer containing the same block copies its compressed bytes instead of compressing
//! it again (a rebuild after one file of a large COPY changed recompresses one block, not
//! the whole layer).
//!
//! ```text
//! ROOT/strata/v1/blockmaps/v1/<blob hex>.map    one map per blob
//! ```
//!
//! A map file is binary: the magic `STRATA-BLOCKMAP\0`, the format version (u32 LE), the
//! codec tag (u16 LE length + UTF-8: the compressor, its level and a fingerprint of its
//! output, so a map made by another encoder is never used), the entry count (u32 LE), then
//! per block its key (32 bytes: what the block was made from), its offset (u64 LE) and
//! length (u32 LE) in the blob, and the sha256 of those compressed bytes (32 bytes) — which
//! the reader checks before reusing them.
//!
//! Maps are a cache: written by rename after fsync, ignored when unreadable, of another
//! version or codec, or when their blob is gone; GC removes the maps of the blobs it removes.
//! They are never GC roots.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::Store;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The map format this build reads and writes.
pub const BLOCKMAP_VERSION: u32 = 1;

const BLOCKMAPS: &str = "blockmaps";
const LAYOUT: &str = "v1";
const MAGIC: &[u8; 16] = b"STRATA-BLOCKMAP\0";
const ENTRY_LEN: usize = 32 + 8 + 4 + 32;
/// More entries than any sane layer has (16 Mi blocks of >= 64 KiB is 1 TiB): a bound on
/// what a corrupt count can make us allocate.
const MAX_ENTRIES: usize = 1 << 24;

/// The compressed blocks of one blob, in blob order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockMap {
    /// Which encoder made the blocks (compressor, level, output fingerprint); a map is only
    /// used by an encoder with the same tag.
    pub codec: String,
    /// The blocks.
    pub blocks: Vec<BlockEntry>,
}

/// One compressed block of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    /// What the block was compressed from (the encoder's hash of its input).
    pub key: [u8; 32],
    /// Offset of the compressed bytes in the blob.
    pub offset: u64,
    /// Length of the compressed bytes.
    pub len: u32,
    /// sha256 of the compressed bytes.
    pub hash: [u8; 32],
}

impl BlockMap {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.codec.len() + self.blocks.len() * ENTRY_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BLOCKMAP_VERSION.to_le_bytes());
        let tag = self.codec.as_bytes();
        out.extend_from_slice(&(tag.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&tag[..tag.len().min(u16::MAX as usize)]);
        out.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        for b in &self.blocks {
            out.extend_from_slice(&b.key);
            out.extend_from_slice(&b.offset.to_le_bytes());
            out.extend_from_slice(&b.len.to_le_bytes());
            out.extend_from_slice(&b.hash);
        }
        out
    }

    /// Parses a map; `None` when it is not one of this version.
    fn decode(bytes: &[u8]) -> Option<BlockMap> {
        let mut r = bytes.strip_prefix(MAGIC.as_slice())?;
        let version = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
        if version != BLOCKMAP_VERSION {
            return None;
        }
        let tag_len = u16::from_le_bytes(take(&mut r, 2)?.try_into().ok()?) as usize;
        let codec = std::str::from_utf8(take(&mut r, tag_len)?)
            .ok()?
            .to_string();
        let count = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
        if count > MAX_ENTRIES || r.len() != count * ENTRY_LEN {
            return None;
        }
        let blocks = r
            .chunks_exact(ENTRY_LEN)
            .map(|e| BlockEntry {
                key: e[..32].try_into().expect("32 bytes"),
                offset: u64::from_le_bytes(e[32..40].try_into().expect("8 bytes")),
                len: u32::from_le_bytes(e[40..44].try_into().expect("4 bytes")),
                hash: e[44..].try_into().expect("32 bytes"),
            })
            .collect();
        Some(BlockMap { codec, blocks })
    }
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Some(head)
}

impl Store {
    fn blockmaps_dir(&self) -> PathBuf {
        self.metadata_dir().join(BLOCKMAPS).join(LAYOUT)
    }

    fn blockmap_path(&self, blob: &Digest) -> PathBuf {
        self.blockmaps_dir().join(format!("{}.map", blob.hex()))
    }

    /// Records where the compressed blocks of `blob` (which must be in the store) lie.
    pub fn blockmap_put(&self, blob: &Digest, map: &BlockMap) -> Result<()> {
        if !self.has_blob(blob)? {
            return Err(Error::BlobNotFound(*blob));
        }
        let path = self.blockmap_path(blob);
        crate::store::write_file_atomic(self, &self.blockmaps_dir(), &path, &map.encode())
    }

    /// The recorded maps with codec tag `codec` whose blob is still in the store, with the
    /// blob's digest: the most recently written first, as many as hold at most `max_blocks`
    /// blocks together (a bound on what a caller keeps in memory; recent blobs are the likely
    /// ancestors of the next build's layers).
    pub fn blockmaps(&self, codec: &str, max_blocks: usize) -> Result<Vec<(Digest, BlockMap)>> {
        let mut files: Vec<_> = self
            .blockmap_files()?
            .into_iter()
            .map(|(blob, path)| {
                let mtime = fs::metadata(&path).and_then(|m| m.modified()).ok();
                (mtime, blob, path)
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut out = Vec::new();
        let mut blocks = 0;
        for (_, blob, path) in files {
            let Ok(bytes) = fs::read(&path) else {
                continue;
            };
            let Some(map) = BlockMap::decode(&bytes) else {
                tracing::debug!(
                    "{}: ignoring: not a version {BLOCKMAP_VERSION} block map",
                    path.display()
                );
                continue;
            };
            if map.codec != codec || !self.has_blob(&blob)? {
                continue;
            }
            blocks += map.blocks.len();
            if blocks > max_blocks {
                break;
            }
            out.push((blob, map));
        }
        Ok(out)
    }

    /// The map files, with the blob each describes.
    fn blockmap_files(&self) -> Result<Vec<(Digest, PathBuf)>> {
        let dir = self.blockmaps_dir();
        let mut out = Vec::new();
        for entry in crate::store::dir_entries(&dir)? {
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".map")) else {
                continue;
            };
            if let Ok(blob) = Digest::from_hex(hex) {
                out.push((blob, entry.path()));
            }
        }
        Ok(out)
    }
}

/// Removes the maps whose blob is gone (after GC removed blobs); returns how many.
pub(crate) fn prune_blockmaps(store: &Store, dry_run: bool) -> Result<u64> {
    let mut removed = 0;
    for (blob, path) in store.blockmap_files()? {
        if store.has_blob(&blob)? {
            continue;
        }
        if !dry_run {
            remove(&path)?;
        }
        removed += 1;
    }
    Ok(removed)
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(codec: &str, n: u8) -> BlockMap {
        BlockMap {
            codec: codec.into(),
            blocks: (0..n)
                .map(|i| BlockEntry {
                    key: [i; 32],
                    offset: 10 + u64::from(i) * 100,
                    len: 100,
                    hash: [i ^ 0xff; 32],
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip_and_codec_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (blob, _) = store.put_bytes(b"compressed blob", None).unwrap();
        let m = map("gzip-6/abc", 3);
        store.blockmap_put(&blob, &m).unwrap();
        assert_eq!(store.blockmaps("gzip-6/abc", 100).unwrap(), vec![(blob, m)]);
        assert!(store.blockmaps("gzip-9/abc", 100).unwrap().is_empty());
        assert!(
            store.blockmaps("gzip-6/abc", 2).unwrap().is_empty(),
            "3 blocks > 2"
        );
    }

    #[test]
    fn refuses_missing_blob_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let absent = Digest::of_bytes(b"absent");
        assert!(matches!(
            store.blockmap_put(&absent, &map("c", 1)),
            Err(Error::BlobNotFound(_))
        ));
        let (blob, _) = store.put_bytes(b"blob", None).unwrap();
        store.blockmap_put(&blob, &map("c", 2)).unwrap();
        // Truncated, another version, a stray name: all ignored, none an error.
        let path = store.blockmap_path(&blob);
        let good = fs::read(&path).unwrap();
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(store.blockmaps("c", 100).unwrap().is_empty());
        let mut other = good.clone();
        other[16] = 9;
        fs::write(&path, other).unwrap();
        assert!(store.blockmaps("c", 100).unwrap().is_empty());
        fs::write(store.blockmaps_dir().join("stray"), b"x").unwrap();
        fs::write(&path, &good).unwrap();
        assert_eq!(store.blockmaps("c", 100).unwrap().len(), 1);
    }

    #[test]
    fn prune_removes_maps_of_removed_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (kept, _) = store.put_bytes(b"kept", None).unwrap();
        let (gone, _) = store.put_bytes(b"gone", None).unwrap();
        store.blockmap_put(&kept, &map("c", 1)).unwrap();
        store.blockmap_put(&gone, &map("c", 1)).unwrap();
        fs::remove_file(store.blob_path(&gone)).unwrap();
        assert_eq!(prune_blockmaps(&store, true).unwrap(), 1);
        assert!(store.blockmap_path(&gone).exists());
        assert_eq!(prune_blockmaps(&store, false).unwrap(), 1);
        assert!(!store.blockmap_path(&gone).exists());
        assert!(store.blockmap_path(&kept).exists());
    }
}
