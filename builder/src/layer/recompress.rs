//! A stored layer blob in another compression: decompress -> sha256 (checked against the
//! diffID) -> compressor -> sha256 -> temp blob -> store, streamed, remembered in the store
//! as a [`LayerVariant`] so the next push finds it.
//!
//! Decompression and hashing run on their own thread, compression (on every core) and the
//! blob write on the caller's, joined by a bounded channel: memory stays at a few buffers.

use super::{decompress, LayerCompression, ParallelEncoder};
use std::io::{self, BufReader, Read, Write};
use std::sync::mpsc;
use strata_cache::{oci::media_type, Descriptor, Digest, Hasher, LayerVariant, Store};

/// Bytes per buffer handed from the decompressing thread to the compressor.
const BUFFER: usize = 1 << 20;
/// Buffers in flight between the two threads.
const IN_FLIGHT: usize = 4;

/// Why a layer could not be re-compressed.
#[derive(Debug, thiserror::Error)]
pub enum RecompressError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// Reading, decompressing or compressing failed.
    #[error("re-compressing layer {layer}: {source}")]
    Io {
        /// The stored layer blob.
        layer: Digest,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The stored layer's content is not the one its image config names.
    #[error("layer {layer} decompresses to {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        /// The stored layer blob.
        layer: Digest,
        /// The diffID the config lists.
        expected: Digest,
        /// The digest of what the blob decompressed to.
        actual: Digest,
    },
}

/// The compression name the store records variants under ("gzip", "zstd", "none").
pub fn compression_name(compression: LayerCompression) -> &'static str {
    match compression {
        LayerCompression::None => "none",
        LayerCompression::Gzip(_) => "gzip",
        LayerCompression::Zstd(_) => "zstd",
    }
}

/// The compression a layer media type says, when it says one we write.
pub fn compression_of_media_type(media: &str) -> Option<&'static str> {
    match media {
        media_type::OCI_LAYER_TAR_GZIP | media_type::DOCKER_LAYER_TAR_GZIP => Some("gzip"),
        media_type::OCI_LAYER_TAR_ZSTD | media_type::DOCKER_LAYER_TAR_ZSTD => Some("zstd"),
        media_type::OCI_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Some("none"),
        _ => None,
    }
}

/// The layer `source` (whose uncompressed content is `diff_id`) as a blob in `compression`:
/// the recorded variant when the store has one, else made now (`threads` compressors, 0 for
/// every core) and recorded. `progress` receives the count of `source` bytes read. The
/// caller holds a lease on `store`. Returns the variant and whether it was made now.
pub fn layer_variant(
    store: &Store,
    source: &Descriptor,
    diff_id: &Digest,
    compression: LayerCompression,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
    mut tee: Option<&mut dyn CompressedTee>,
) -> Result<(LayerVariant, bool), RecompressError> {
    let name = compression_name(compression);
    if let Some(found) = store.variant_get(diff_id, name)? {
        if let Some(tee) = tee {
            tee.finish(None);
        }
        return Ok((found, false));
    }
    let layer = source.digest;
    let io_err = |source: io::Error| RecompressError::Io { layer, source };
    let file = store.open_blob(&layer)?;
    let mut writer = store.blob_writer()?;
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
    let produced = std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> io::Result<Digest> {
            let counted = CountingReader {
                inner: file,
                read: 0,
                progress,
            };
            let (_, mut plain) = decompress(BufReader::with_capacity(BUFFER, counted))?;
            let mut hasher = Hasher::new();
            loop {
                let mut buf = recycle_rx.try_recv().unwrap_or_else(|_| vec![0; BUFFER]);
                buf.resize(BUFFER, 0);
                let mut filled = 0;
                while filled < BUFFER {
                    match plain.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if filled == 0 {
                    return Ok(hasher.digest());
                }
                buf.truncate(filled);
                hasher.update(&buf);
                if tx.send(buf).is_err() {
                    // The compressing side failed; it reports why.
                    return Ok(hasher.digest());
                }
            }
        });
        let compressed = (|| -> io::Result<()> {
            let teed = Teed {
                inner: &mut writer,
                tee: tee.as_deref_mut(),
            };
            let mut encoder = ParallelEncoder::new(teed, compression, threads)?;
            for buf in rx {
                encoder.write_all(&buf)?;
                let _ = recycle_tx.send(buf);
            }
            encoder.finish()?.flush()
        })();
        let read = reader.join().expect("the decompressing thread panicked");
        compressed.and(read)
    });
    let actual = match produced {
        Ok(actual) => actual,
        Err(e) => {
            if let Some(tee) = tee {
                tee.finish(None);
            }
            return Err(io_err(e));
        }
    };
    let blob = match actual == *diff_id {
        true => match writer.digest() {
            Ok(digest) => Some(digest),
            Err(e) => {
                if let Some(tee) = tee {
                    tee.finish(None);
                }
                return Err(e.into());
            }
        },
        false => None,
    };
    if let Some(tee) = tee {
        tee.finish(blob);
    }
    if actual != *diff_id {
        return Err(RecompressError::DiffIdMismatch {
            layer,
            expected: *diff_id,
            actual,
        });
    }
    let (digest, size) = writer.commit(None)?;
    let level = match compression {
        LayerCompression::None => None,
        LayerCompression::Gzip(l) => Some(l as i32),
        LayerCompression::Zstd(l) => Some(l),
    };
    let variant = LayerVariant {
        version: strata_cache::VARIANT_RECORD_VERSION,
        diff_id: *diff_id,
        compression: name.to_string(),
        level,
        blob: Descriptor::new(compression.media_type(), digest, size),
        source: layer,
        created: chrono::Utc::now(),
    };
    store.variant_put(&variant)?;
    Ok((variant, true))
}

/// Where a copy of the compressed bytes goes while a variant is made (an upload running
/// alongside). Its write errors are its own business: they never fail the variant.
pub trait CompressedTee: Send {
    /// Compressed bytes, in order.
    fn write(&mut self, bytes: &[u8]);
    /// The variant is complete and its content verified (`Some(digest)`), or refused.
    fn finish(&mut self, digest: Option<Digest>);
}

/// The blob writer, with every byte also handed to the tee.
struct Teed<'a, 'b, W: Write> {
    inner: W,
    tee: Option<&'a mut (dyn CompressedTee + 'b)>,
}

impl<W: Write> Write for Teed<'_, '_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(tee) = &mut self.tee {
            tee.write(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<'a, R> {
    inner: R,
    read: u64,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_layer_to_zstd_and_back_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _lease = store.lease().unwrap();
        let tar: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        let diff_id = Digest::of_bytes(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let (gz_digest, gz_size) = store.put_bytes(&gz, None).unwrap();
        let source = Descriptor::new(media_type::OCI_LAYER_TAR_GZIP, gz_digest, gz_size);

        let read = std::sync::atomic::AtomicU64::new(0);
        let progress = |n: u64| read.store(n, std::sync::atomic::Ordering::SeqCst);
        struct Collect(Vec<u8>, Option<Option<Digest>>);
        impl CompressedTee for Collect {
            fn write(&mut self, bytes: &[u8]) {
                self.0.extend_from_slice(bytes);
            }
            fn finish(&mut self, digest: Option<Digest>) {
                self.1 = Some(digest);
            }
        }
        let mut tee = Collect(Vec::new(), None);
        let (zst, made) = layer_variant(
            &store,
            &source,
            &diff_id,
            LayerCompression::Zstd(3),
            2,
            &progress,
            Some(&mut tee),
        )
        .unwrap();
        assert!(made);
        // The tee saw exactly the blob, and was told its digest.
        assert_eq!(Digest::of_bytes(&tee.0), zst.blob.digest);
        assert_eq!(tee.1, Some(Some(zst.blob.digest)));
        assert_eq!(read.into_inner(), gz_size);
        assert_eq!(zst.blob.media_type, media_type::OCI_LAYER_TAR_ZSTD);
        let blob = store.read_blob(&zst.blob.digest).unwrap();
        assert_eq!(zstd::decode_all(&blob[..]).unwrap(), tar);
        // The second time it is found, not made.
        let (again, made) = layer_variant(
            &store,
            &source,
            &diff_id,
            LayerCompression::Zstd(19),
            2,
            &|_| {},
            None,
        )
        .unwrap();
        assert!(!made);
        assert_eq!(again, zst);
        // A config naming other content is refused, and nothing is recorded.
        let wrong = Digest::of_bytes(b"other");
        let err = layer_variant(
            &store,
            &source,
            &wrong,
            LayerCompression::None,
            1,
            &|_| {},
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, RecompressError::DiffIdMismatch { .. }),
            "{err}"
        );
        assert!(store.variant_get(&wrong, "none").unwrap().is_none());
    }
}
