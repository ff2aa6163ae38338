//! The store's block maps as a [`BlockCache`]: compressed gzip blocks of stored blobs that a
//! new layer can copy instead of compressing again.

use super::parallel::BlockCache;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, OnceLock};
use strata_cache::{Digest, Store};

/// Where a block's compressed bytes lie.
#[derive(Debug, Clone, Copy)]
struct Location {
    blob: Digest,
    offset: u64,
    len: u32,
    hash: [u8; 32],
}

/// The most blocks a build keeps in its index (~130 bytes each: ~35 MB at most, for the
/// newest ~32 GiB of gzip layers).
const MAX_BLOCKS: usize = 256 * 1024;

/// Block key -> where its compressed bytes lie, for one codec; loaded once.
type CodecIndex = Arc<OnceLock<HashMap<[u8; 32], Location>>>;

/// Blocks of the blobs in a store, found through their block maps. The maps are read on the
/// first lookup (so layers of one block, most RUN steps, never read them) and once per
/// codec; blob files are opened once.
#[derive(Debug)]
pub struct StoreBlockCache {
    store: Store,
    index: Mutex<HashMap<String, CodecIndex>>,
    files: Mutex<HashMap<Digest, Arc<File>>>,
}

impl StoreBlockCache {
    /// A cache over `store`'s block maps.
    pub fn new(store: Store) -> StoreBlockCache {
        StoreBlockCache {
            store,
            index: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn index(&self, codec: &str) -> CodecIndex {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(index.entry(codec.to_string()).or_default())
    }

    fn load(&self, codec: &str) -> HashMap<[u8; 32], Location> {
        let maps = match self.store.blockmaps(codec, MAX_BLOCKS) {
            Ok(maps) => maps,
            Err(e) => {
                // A cache: unreadable maps only cost compression time.
                tracing::debug!("block maps: {e}");
                return HashMap::new();
            }
        };
        let mut out = HashMap::new();
        for (blob, map) in maps {
            for b in map.blocks {
                out.entry(b.key).or_insert(Location {
                    blob,
                    offset: b.offset,
                    len: b.len,
                    hash: b.hash,
                });
            }
        }
        out
    }

    fn file(&self, blob: &Digest) -> Option<Arc<File>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(blob) {
            return Some(Arc::clone(f));
        }
        let f = Arc::new(self.store.open_blob(blob).ok()?);
        files.insert(*blob, Arc::clone(&f));
        Some(f)
    }
}

impl BlockCache for StoreBlockCache {
    fn find(&self, codec: &str, key: &[u8; 32]) -> Option<(Vec<u8>, [u8; 32])> {
        let index = self.index(codec);
        let at = *index.get_or_init(|| self.load(codec)).get(key)?;
        let file = self.file(&at.blob)?;
        let mut bytes = vec![0; at.len as usize];
        file.read_exact_at(&mut bytes, at.offset).ok()?;
        // The blob was verified when written; this catches a map or disk gone wrong since.
        if <[u8; 32]>::from(Sha256::digest(&bytes)) != at.hash {
            tracing::warn!("{}: block at {} does not match its map", at.blob, at.offset);
            return None;
        }
        Some((bytes, at.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{LayerCompression, ParallelEncoder};
    use std::io::Write;

    fn text(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefgh ij\n"[(x >> 24) as usize % 12]
            })
            .collect()
    }

    fn encode(store: &Store, data: &[u8]) -> (Digest, Vec<u8>, Option<strata_cache::BlockMap>) {
        let cache: Arc<dyn BlockCache> = Arc::new(StoreBlockCache::new(store.clone()));
        let mut e = ParallelEncoder::with_block_cache(
            Vec::new(),
            LayerCompression::Gzip(6),
            2,
            Some(cache),
        )
        .unwrap();
        e.write_all(data).unwrap();
        let (bytes, map) = e.finish_with_map().unwrap();
        let (digest, _) = store.put_bytes(&bytes, None).unwrap();
        if let Some(map) = &map {
            store.blockmap_put(&digest, map).unwrap();
        }
        (digest, bytes, map)
    }

    #[test]
    fn second_blob_reuses_the_first_ones_blocks_and_survives_a_bad_map() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = text(3 << 20, 7);
        let (first, _, map) = encode(&store, &data);
        let map = map.unwrap();

        let cache = StoreBlockCache::new(store.clone());
        let b = map.blocks[3];
        let found = cache.find(&map.codec, &b.key).unwrap();
        assert_eq!(found.1, b.hash);
        assert!(cache.find("gzip-other", &b.key).is_none());

        // Same content again: same bytes, built from the stored blocks.
        let (again, bytes, _) = encode(&store, &data);
        assert_eq!(again, first);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut back)
            .unwrap();
        assert!(back == data);

        // A map that lies about its bytes is caught by the hash: a miss, not a bad blob.
        let mut bad = map.clone();
        bad.blocks[3].hash = [0; 32];
        store.blockmap_put(&first, &bad).unwrap();
        let cache = StoreBlockCache::new(store.clone());
        assert!(cache.find(&map.codec, &b.key).is_none());
    }
}
