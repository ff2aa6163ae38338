//! Layers: tar streams in, OCI layer blobs out. Every byte is streamed through
//! decompress -> structure check -> sha256 (diffID) -> compressor -> sink; no layer is ever
//! held in memory.

mod blockcache;
mod compression;
mod diffid;
mod extract;
pub mod overlay;
mod parallel;
mod recompress;
mod rootfs;
mod tarcheck;
mod tarfmt;
mod tree;
mod whiteout;
mod writer;
mod xattr;

pub use blockcache::StoreBlockCache;
pub use compression::{decompress, Compression};
pub use extract::{extract_layer, ExtractError, ExtractOptions, ExtractStats};
pub use parallel::{default_threads, gzip_codec_tag, BlockCache, ParallelEncoder};
pub use recompress::{
    compression_name, compression_of_media_type, layer_variant, CompressedTee, RecompressError,
};
pub use tarcheck::TarCheck;
pub use tree::{write_tree, Content, LayerTree, Node};
pub use whiteout::{
    classify_whiteout, WhiteoutName, OVERLAY_OPAQUE_TRUSTED, OVERLAY_OPAQUE_USER, WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
};
pub use writer::{
    write_layer, write_merged_tree, write_upper_layer, LayerInfo, LayerOptions, LayerWriteError,
};
pub use xattr::{layer_xattrs, set_xattrs, Xattrs};

use std::io::{self, BufReader, Read, Write};
use strata_cache::{Digest, DigestWriter};

/// The compression a layer blob is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// Uncompressed tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// gzip at the given level (0-9).
    Gzip(u32),
    /// zstd at the given level (1-22).
    Zstd(i32),
}

impl Default for LayerCompression {
    fn default() -> Self {
        LayerCompression::Gzip(6)
    }
}

impl LayerCompression {
    /// The OCI media type of a layer written with this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            LayerCompression::None => "application/vnd.oci.image.layer.v1.tar",
            LayerCompression::Gzip(_) => "application/vnd.oci.image.layer.v1.tar+gzip",
            LayerCompression::Zstd(_) => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// What importing a tar stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedLayer {
    /// sha256 of the uncompressed tar: the layer's diffID.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The compression the input arrived in.
    pub input_compression: Compression,
    /// Tar headers seen.
    pub entries: u64,
}

/// Errors of layer processing.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading, decompressing or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Copies everything written to both sinks.
struct Tee<A: Write, B: Write>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// Streams a (plain, gzip or zstd) tar from `input` into `sink` as a layer blob compressed
/// with `compression`, checking that the input is one whole tar archive. The sink receives
/// the blob bytes; the caller computes their digest (a store blob writer does).
pub fn import_tar<R: Read, W: Write>(
    input: R,
    sink: W,
    compression: LayerCompression,
) -> Result<(ImportedLayer, W), LayerError> {
    let (input_compression, mut tar) = decompress(BufReader::with_capacity(1 << 16, input))?;
    let encoder = LayerEncoder::new(sink, compression)?;
    let mut pipeline = Tee(TarCheck::new(), DigestWriter::new(encoder));
    io::copy(&mut tar, &mut pipeline).map_err(|e| annotate(e, input_compression))?;
    let Tee(check, hashed) = pipeline;
    let entries = check.finish()?;
    let (encoder, diff_id, uncompressed_size) = hashed.finish();
    let sink = encoder.finish()?;
    Ok((
        ImportedLayer {
            diff_id,
            uncompressed_size,
            input_compression,
            entries,
        },
        sink,
    ))
}

/// Streams a (plain, gzip or zstd) tar from `input` into `sink` byte for byte, checking that
/// it is one whole tar archive and computing its diffID on the way. Nothing is recompressed:
/// the blob is the input as given (its media type follows `input_compression`), which is what
/// `docker import` keeps too and costs one pass over the data.
pub fn import_tar_as_is<R: Read, W: Write>(
    input: R,
    sink: W,
) -> Result<(ImportedLayer, W), LayerError> {
    let mut tee = TeeReader {
        inner: input,
        copy: sink,
    };
    let (input_compression, mut tar) = decompress(BufReader::with_capacity(1 << 16, &mut tee))?;
    let mut pipeline = Tee(TarCheck::new(), DigestWriter::new(io::sink()));
    io::copy(&mut tar, &mut pipeline).map_err(|e| annotate(e, input_compression))?;
    drop(tar);
    // Bytes after the end of the compressed stream are part of the blob as given.
    io::copy(&mut tee, &mut io::sink())?;
    let Tee(check, hashed) = pipeline;
    let entries = check.finish()?;
    let (_, diff_id, uncompressed_size) = hashed.finish();
    let layer = ImportedLayer {
        diff_id,
        uncompressed_size,
        input_compression,
        entries,
    };
    Ok((layer, tee.copy))
}

/// Copies every byte read from `inner` into `copy`.
struct TeeReader<R: Read, W: Write> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn annotate(err: io::Error, compression: Compression) -> io::Error {
    if compression == Compression::None || err.kind() != io::ErrorKind::UnexpectedEof {
        return err;
    }
    io::Error::new(
        err.kind(),
        format!("truncated {} stream: {err}", compression.name()),
    )
}

/// A compressor chosen at run time.
pub enum LayerEncoder<W: Write> {
    /// Passes bytes through.
    Plain(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> LayerEncoder<W> {
    /// Starts compressing into `sink`.
    pub fn new(sink: W, compression: LayerCompression) -> io::Result<LayerEncoder<W>> {
        Ok(match compression {
            LayerCompression::None => LayerEncoder::Plain(sink),
            LayerCompression::Gzip(level) => {
                // A fixed header (no mtime, no name) keeps the blob a function of the tar alone.
                let encoder = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(sink, flate2::Compression::new(level.min(9)));
                LayerEncoder::Gzip(encoder)
            }
            LayerCompression::Zstd(level) => {
                LayerEncoder::Zstd(zstd::stream::write::Encoder::new(sink, level)?)
            }
        })
    }

    /// Writes the trailer and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        match self {
            LayerEncoder::Plain(w) => Ok(w),
            LayerEncoder::Gzip(e) => e.finish(),
            LayerEncoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerEncoder::Plain(w) => w.write(buf),
            LayerEncoder::Gzip(e) => e.write(buf),
            LayerEncoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerEncoder::Plain(w) => w.flush(),
            LayerEncoder::Gzip(e) => e.flush(),
            LayerEncoder::Zstd(e) => e.flush(),
        }
    }
}
