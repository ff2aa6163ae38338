//! Multi-core layer compression whose output does not depend on the thread count.
//!
//! - zstd: libzstd's own worker pool. With one or more workers the frame is cut into jobs of a
//!   fixed size (2 MiB, set explicitly), so 1 and N workers give the same bytes; "no worker"
//!   (the single-threaded mode) would differ, so we never use it.
//! - gzip: a pigz-style single gzip member. The input is cut into blocks at content-defined
//!   points (a gear rolling hash, 64 KiB to 512 KiB, ~128 KiB on average), so an insertion
//!   or change moves only the cuts next to it; each block is deflated independently (in any
//!   thread) with the previous 32 KiB as preset dictionary and ends with a sync flush; an
//!   empty final block closes the stream. The compressed bytes of a block are a function of
//!   (encoder, level, dictionary, block) only, so the stream is the same for any thread
//!   count, and any gzip reader decodes it as one member.
//!
//! Because a block's bytes depend on nothing else, an encoder given a [`BlockCache`] keys
//! every block by sha256(dictionary, block), copies the compressed bytes of a block some
//! stored blob already holds (found through that blob's block map, checked against their
//! recorded sha256) and returns the new blob's own [`BlockMap`]. A rebuild whose layer differs
//! in one file compresses the few blocks around it; the bytes are those a cold build writes.

use super::LayerCompression;
use flate2::{Compress, FlushCompress};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use strata_cache::{BlockEntry, BlockMap};

/// Bounds of a gzip block's uncompressed size; cuts fall in between at content-defined
/// points.
const GZIP_MIN_BLOCK: usize = 64 * 1024;
const GZIP_MAX_BLOCK: usize = 512 * 1024;
/// A cut after a byte where these bits of the gear hash are zero: one in 2^16 positions, so
/// blocks average ~128 KiB. The top bits depend on the last 48+ bytes.
const GZIP_CUT_MASK: u64 = 0xffff << 48;
/// The final deflate block of the stream: empty, fixed Huffman, BFINAL set.
const DEFLATE_END: [u8; 2] = [0x03, 0x00];
/// The deflate window: how much of the previous block primes the next.
const GZIP_DICT: usize = 32 * 1024;
/// Uncompressed bytes per zstd job (each job is compressed by one worker).
const ZSTD_JOB: u32 = 2 << 20;

/// The number of compression threads to use when the caller says 0: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where a gzip encoder finds blocks it compressed before (see the module comment).
pub trait BlockCache: Send + Sync + fmt::Debug {
    /// The compressed bytes of the block keyed `key` and their sha256, when a stored blob
    /// made by an encoder with codec tag `codec` holds them (checked against the hash).
    fn find(&self, codec: &str, key: &[u8; 32]) -> Option<(Vec<u8>, [u8; 32])>;
}

/// The codec tag of the gzip encoder at `level`: its format and a fingerprint of what this
/// build's deflate makes of a fixed sample, so blocks made by another deflate (whose bytes
/// could differ) are never mixed into a blob.
pub fn gzip_codec_tag(level: u32) -> String {
    static TAGS: [OnceLock<String>; 10] = [const { OnceLock::new() }; 10];
    let level = level.min(9);
    TAGS[level as usize]
        .get_or_init(|| {
            let sample: Vec<u8> = (0u32..24_000)
                .flat_map(|i| format!("{} line {i} of the sample\n", i * 7919 % 1000).into_bytes())
                .collect();
            let (dict, data) = sample.split_at(32 * 1024);
            let job = Job {
                seq: 0,
                level,
                dict: dict.to_vec(),
                data: data.to_vec(),
                keyed: false,
            };
            let fingerprint = deflate_block(&job).map(Sha256::digest).unwrap_or_default();
            let hex: String = fingerprint[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("gzip-cdc2-l{level}-{hex}")
        })
        .clone()
}

/// A compressor that spreads work over `threads` cores; its output is the same for any
/// thread count.
pub struct ParallelEncoder<W: Write> {
    inner: Inner<W>,
}

enum Inner<W: Write> {
    Plain(W),
    Gzip(Box<GzipParallel<W>>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> ParallelEncoder<W> {
    /// Starts compressing into `sink` with `threads` workers (0 = every core).
    pub fn new(
        sink: W,
        compression: LayerCompression,
        threads: usize,
    ) -> io::Result<ParallelEncoder<W>> {
        Self::with_block_cache(sink, compression, threads, None)
    }

    /// [`ParallelEncoder::new`] that reuses gzip blocks `cache` finds and makes this blob's
    /// [`BlockMap`] (see [`ParallelEncoder::finish_with_map`]). zstd and plain ignore it.
    pub fn with_block_cache(
        sink: W,
        compression: LayerCompression,
        threads: usize,
        cache: Option<Arc<dyn BlockCache>>,
    ) -> io::Result<ParallelEncoder<W>> {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        let inner = match compression {
            LayerCompression::None => Inner::Plain(sink),
            LayerCompression::Gzip(level) => Inner::Gzip(Box::new(GzipParallel::new(
                sink,
                level.min(9),
                threads,
                cache,
            ))),
            LayerCompression::Zstd(level) => {
                let mut encoder = zstd::stream::write::Encoder::new(sink, level)?;
                // At least one worker: zstd's single-threaded mode frames differently.
                encoder.multithread(u32::try_from(threads).unwrap_or(u32::MAX).max(1))?;
                // A fixed job size keeps the frame independent of the worker count, and small
                // jobs bound memory: libzstd's default (4x the window, 8 MiB at level 3) kept
                // ~100 MB of input and output buffers in flight with two workers.
                encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
                Inner::Zstd(encoder)
            }
        };
        Ok(ParallelEncoder { inner })
    }

    /// Writes the trailer and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.finish_with_map().map(|(w, _)| w)
    }

    /// Writes the trailer; returns the sink and, for a gzip stream of two or more blocks
    /// made with a block cache, where its blocks lie (for [`strata_cache::Store::blockmap_put`]).
    pub fn finish_with_map(self) -> io::Result<(W, Option<BlockMap>)> {
        match self.inner {
            Inner::Plain(w) => Ok((w, None)),
            Inner::Gzip(g) => (*g).finish(),
            Inner::Zstd(e) => Ok((e.finish()?, None)),
        }
    }
}

impl<W: Write> Write for ParallelEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(w) => w.write(buf),
            Inner::Gzip(g) => g.write(buf),
            Inner::Zstd(e) => e.write(buf),
        }
    }

    /// Flushes only the sink: a compressor flush would cut a block where the caller happened
    /// to flush and so make the bytes depend on it.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(w) => w.flush(),
            Inner::Gzip(g) => g.sink.flush(),
            Inner::Zstd(e) => e.get_mut().flush(),
        }
    }
}

/// One block to deflate.
struct Job {
    seq: u64,
    level: u32,
    dict: Vec<u8>,
    data: Vec<u8>,
    /// Key the block (and look it up in the cache, when there is one).
    keyed: bool,
}

/// A deflated block: its bytes, for a keyed block its key and their sha256, and the CRC-32
/// of its input (combined in order into the stream's: one core less busy with it).
struct Done {
    bytes: Vec<u8>,
    keyed: Option<([u8; 32], [u8; 32])>,
    crc: crc32fast::Hasher,
    /// Copied from the cache rather than compressed.
    reused: bool,
}

/// What a block is compressed from: its dictionary and its bytes.
fn block_key(dict: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((dict.len() as u32).to_le_bytes());
    h.update(dict);
    h.update(data);
    h.finalize().into()
}

/// Compresses a block, or copies it from the cache.
fn run_job(job: &Job, cache: Option<&(Arc<dyn BlockCache>, String)>) -> io::Result<Done> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&job.data);
    let key = match cache {
        Some((cache, codec)) if job.keyed => {
            let key = block_key(&job.dict, &job.data);
            if let Some((bytes, hash)) = cache.find(codec, &key) {
                return Ok(Done {
                    bytes,
                    keyed: Some((key, hash)),
                    crc,
                    reused: true,
                });
            }
            Some(key)
        }
        _ => None,
    };
    let bytes = deflate_block(job)?;
    let keyed = key.map(|k| (k, Sha256::digest(&bytes).into()));
    Ok(Done {
        bytes,
        keyed,
        crc,
        reused: false,
    })
}

/// Deflates one block (raw deflate, no zlib header) primed with `dict`, ending with a sync
/// flush so blocks concatenate.
fn deflate_block(job: &Job) -> io::Result<Vec<u8>> {
    // Already-compressed content (archives, media, random data) costs deflate the most time
    // for no gain: such a block is stored as is. The probe looks at the block alone, so the
    // bytes stay a function of the block.
    let level = if job.level > 0 && incompressible(&job.data) {
        0
    } else {
        job.level
    };
    // A fresh state per block: nothing of a previous block can leak into this one's bytes.
    let mut z = Compress::new(flate2::Compression::new(level), false);
    if !job.dict.is_empty() {
        z.set_dictionary(&job.dict)
            .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
    }
    let mut out = Vec::with_capacity(job.data.len() + job.data.len() / 16 + 64);
    loop {
        let consumed = z.total_in() as usize;
        z.compress_vec(&job.data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let input_done = z.total_in() as usize == job.data.len();
        // zlib's rule: a flush is complete when it left output space unused.
        if input_done && out.len() < out.capacity() {
            return Ok(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}

/// Bytes of the middle of a block that decide whether it is worth compressing.
const PROBE: usize = 8 * 1024;

/// Whether deflate at its fastest level saves under 2% of the middle `PROBE` bytes of
/// `data` (blocks shorter than four probes are always compressed).
fn incompressible(data: &[u8]) -> bool {
    if data.len() < 4 * PROBE {
        return false;
    }
    let start = data.len() / 2 - PROBE / 2;
    let sample = &data[start..start + PROBE];
    let mut z = Compress::new(flate2::Compression::fast(), false);
    let mut out = Vec::with_capacity(PROBE + PROBE / 8 + 64);
    match z.compress_vec(sample, &mut out, FlushCompress::Finish) {
        Ok(flate2::Status::StreamEnd) => out.len() * 100 >= sample.len() * 98,
        // Output did not fit in 112% of the input: certainly incompressible.
        _ => true,
    }
}

/// The gear table of the content-defined cuts: fixed pseudo-random words (splitmix64), so
/// cuts, and with them the bytes, never change between builds.
const GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x5354_5241_5441_4744;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
}

/// The worker pool of the gzip encoder.
struct Pool {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<(u64, io::Result<Done>)>,
    threads: Vec<JoinHandle<()>>,
    limit: u64,
}

impl Pool {
    fn new(threads: usize, cache: Option<Arc<(Arc<dyn BlockCache>, String)>>) -> Pool {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let (res_tx, res_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let res_tx: Sender<_> = res_tx.clone();
                let cache = cache.clone();
                std::thread::spawn(move || loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let done = run_job(&job, cache.as_deref());
                    if res_tx.send((job.seq, done)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(job_tx),
            results: res_rx,
            threads: handles,
            limit: threads as u64 * 3,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends the workers; join them so none outlives the encoder.
        self.jobs.take();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

/// The pigz-style gzip encoder (see the module comment).
struct GzipParallel<W: Write> {
    sink: W,
    level: u32,
    block: Vec<u8>,
    dict: Vec<u8>,
    /// The gear hash of the current block's bytes so far.
    gear: u64,
    /// CRC-32 of the blocks written so far.
    crc: crc32fast::Hasher,
    size: u64,
    /// The block cache and the codec tag it is asked with.
    cache: Option<Arc<(Arc<dyn BlockCache>, String)>>,
    pool: Option<Pool>,
    next_seq: u64,
    next_write: u64,
    done: BTreeMap<u64, Done>,
    /// Compressed bytes written so far (the gzip header included): the next block's offset.
    written: u64,
    /// The blocks written, while every one is keyed.
    map: Option<Vec<BlockEntry>>,
    /// How many blocks were copied from the cache.
    reused: u64,
    header_written: bool,
}

impl<W: Write> GzipParallel<W> {
    fn new(
        sink: W,
        level: u32,
        threads: usize,
        cache: Option<Arc<dyn BlockCache>>,
    ) -> GzipParallel<W> {
        let cache = cache.map(|c| Arc::new((c, gzip_codec_tag(level))));
        GzipParallel {
            sink,
            level,
            block: Vec::with_capacity(GZIP_MIN_BLOCK * 2),
            dict: Vec::new(),
            gear: 0,
            crc: crc32fast::Hasher::new(),
            size: 0,
            // One thread compresses inline: same algorithm, same bytes, no hand-off cost.
            pool: (threads > 1).then(|| Pool::new(threads, cache.clone())),
            map: cache.is_some().then(Vec::new),
            cache,
            next_seq: 0,
            next_write: 0,
            done: BTreeMap::new(),
            written: 0,
            reused: 0,
            header_written: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // No mtime, no name, OS "unknown": nothing about the host in the blob.
            let xfl = match self.level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255];
            self.sink.write_all(&header)?;
            self.written += header.len() as u64;
            self.header_written = true;
        }
        Ok(())
    }

    /// Where the current block should end within `data` (its next bytes), if it does: after
    /// the first byte, at least `GZIP_MIN_BLOCK` into the block, where the gear hash has
    /// `GZIP_CUT_MASK` clear.
    fn find_cut(&mut self, data: &[u8]) -> Option<usize> {
        let have = self.block.len();
        // The hash at a position depends only on the 64 bytes before it: start there.
        let start = (GZIP_MIN_BLOCK - 64).saturating_sub(have).min(data.len());
        let mut h = self.gear;
        for (i, &b) in data.iter().enumerate().skip(start) {
            h = (h << 1).wrapping_add(GEAR[b as usize]);
            if have + i + 1 >= GZIP_MIN_BLOCK && h & GZIP_CUT_MASK == 0 {
                self.gear = h;
                return Some(i + 1);
            }
        }
        self.gear = h;
        None
    }

    /// Hands the current block to a worker (or compresses it here).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.header()?;
        self.gear = 0;
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(GZIP_MIN_BLOCK * 2));
        let tail = data.len().saturating_sub(GZIP_DICT);
        let next_dict = data[tail..].to_vec();
        // A stream of one block gets no key: nothing to gain from a map of one entry.
        let keyed = self.cache.is_some() && !(last && self.next_seq == 0);
        let job = Job {
            seq: self.next_seq,
            level: self.level,
            dict: std::mem::replace(&mut self.dict, next_dict),
            data,
            keyed,
        };
        self.next_seq += 1;
        match &self.pool {
            None => {
                let done = run_job(&job, self.cache.as_deref())?;
                self.emit(done)?;
            }
            Some(pool) => {
                let sender = pool.jobs.as_ref().ok_or_else(pool_gone)?;
                sender.send(job).map_err(|_| pool_gone())?;
                let limit = pool.limit;
                self.collect(false)?;
                // Bound memory: wait while too many blocks are in flight.
                while self.next_seq - self.next_write > limit {
                    self.collect(true)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the next block in order and notes where it lies.
    fn emit(&mut self, done: Done) -> io::Result<()> {
        self.sink.write_all(&done.bytes)?;
        self.crc.combine(&done.crc);
        self.reused += u64::from(done.reused);
        match (done.keyed, &mut self.map) {
            (Some((key, hash)), Some(map)) => map.push(BlockEntry {
                key,
                offset: self.written,
                len: done.bytes.len() as u32,
                hash,
            }),
            _ => self.map = None,
        }
        self.written += done.bytes.len() as u64;
        self.next_write += 1;
        Ok(())
    }

    /// Writes finished blocks in order; with `wait`, blocks until at least one result came.
    fn collect(&mut self, wait: bool) -> io::Result<()> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let mut first = wait;
        loop {
            let received = if first {
                first = false;
                pool.results.recv().map_err(|_| pool_gone())?
            } else {
                match pool.results.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            self.done.insert(received.0, received.1?);
        }
        while let Some(done) = self.done.remove(&self.next_write) {
            self.emit(done)?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<(W, Option<BlockMap>)> {
        // An empty stream still gets its one (empty) block; otherwise the last cut may have
        // fallen at the very end.
        if !self.block.is_empty() || self.next_seq == 0 {
            self.dispatch(true)?;
        }
        while self.next_write < self.next_seq {
            self.collect(true)?;
        }
        self.sink.write_all(&DEFLATE_END)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.clone().finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 says.
        trailer[4..].copy_from_slice(&(self.size as u32).to_le_bytes());
        self.sink.write_all(&trailer)?;
        self.pool.take();
        if self.cache.is_some() {
            tracing::debug!(
                "gzip layer: {} of {} blocks reused from stored blobs",
                self.reused,
                self.next_seq
            );
        }
        let map = self
            .map
            .take()
            .filter(|blocks| blocks.len() >= 2)
            .map(|blocks| BlockMap {
                codec: gzip_codec_tag(self.level),
                blocks,
            });
        let GzipParallel { sink, .. } = self;
        Ok((sink, map))
    }
}

fn pool_gone() -> io::Error {
    io::Error::other("gzip compression worker stopped")
}

impl<W: Write> Write for GzipParallel<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = buf.len().min(GZIP_MAX_BLOCK - self.block.len());
        let cut = self.find_cut(&buf[..room]);
        let take = cut.unwrap_or(room);
        self.block.extend_from_slice(&buf[..take]);
        self.size += take as u64;
        if cut.is_some() || self.block.len() == GZIP_MAX_BLOCK {
            self.dispatch(false)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a counter mixed with repeated text.
        let mut v = Vec::with_capacity(len);
        let mut x: u32 = 1;
        while v.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x % 7 == 0 {
                v.extend_from_slice(b"the quick brown fox ");
            } else {
                v.push((x >> 24) as u8 % 16 + b'a');
            }
        }
        v.truncate(len);
        v
    }

    fn compress(data: &[u8], c: LayerCompression, threads: usize, chunk: usize) -> Vec<u8> {
        let mut e = ParallelEncoder::new(Vec::new(), c, threads).unwrap();
        for part in data.chunks(chunk.max(1)) {
            e.write_all(part).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn gzip_same_bytes_for_any_thread_count_and_decodes() {
        for len in [
            0,
            1,
            GZIP_MIN_BLOCK - 1,
            GZIP_MIN_BLOCK,
            GZIP_MAX_BLOCK + 1,
            5 * GZIP_MAX_BLOCK + 77,
        ] {
            let data = sample(len);
            let one = compress(&data, LayerCompression::Gzip(6), 1, 4096);
            for threads in [2, 3, 8] {
                let many = compress(&data, LayerCompression::Gzip(6), threads, 70_001);
                assert_eq!(one, many, "len {len} threads {threads}");
            }
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "len {len}");
        }
    }

    #[test]
    fn zstd_same_bytes_for_any_thread_count_and_decodes() {
        // Ten zstd jobs, so the workers really split the frame.
        let data = sample(20 << 20);
        let one = compress(&data, LayerCompression::Zstd(3), 1, 4096);
        let two = compress(&data, LayerCompression::Zstd(3), 2, 1 << 20);
        let four = compress(&data, LayerCompression::Zstd(3), 4, 333);
        assert_eq!(one, two);
        assert_eq!(one, four);
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }

    #[test]
    fn gzip_levels_decode() {
        let data = sample(300_000);
        for level in [0, 1, 9] {
            let out = compress(&data, LayerCompression::Gzip(level), 2, 1000);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "level {level}");
        }
    }

    type Found = (Vec<u8>, [u8; 32]);

    /// A block cache over the blobs it was shown, counting hits.
    #[derive(Debug, Default)]
    struct MemoryCache {
        blocks: Mutex<std::collections::HashMap<[u8; 32], Found>>,
        hits: std::sync::atomic::AtomicUsize,
    }

    impl MemoryCache {
        fn learn(&self, blob: &[u8], map: &BlockMap) {
            for b in &map.blocks {
                let start = b.offset as usize;
                let bytes = blob[start..start + b.len as usize].to_vec();
                assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), b.hash);
                self.blocks.lock().unwrap().insert(b.key, (bytes, b.hash));
            }
        }
    }

    impl BlockCache for MemoryCache {
        fn find(&self, codec: &str, key: &[u8; 32]) -> Option<(Vec<u8>, [u8; 32])> {
            assert_eq!(codec, gzip_codec_tag(6));
            let found = self.blocks.lock().unwrap().get(key).cloned();
            if found.is_some() {
                self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            found
        }
    }

    fn compress_cached(
        data: &[u8],
        cache: &Arc<MemoryCache>,
        threads: usize,
    ) -> (Vec<u8>, Option<BlockMap>) {
        let cache: Arc<dyn BlockCache> = cache.clone();
        let mut e = ParallelEncoder::with_block_cache(
            Vec::new(),
            LayerCompression::Gzip(6),
            threads,
            Some(cache),
        )
        .unwrap();
        for part in data.chunks(65_537) {
            e.write_all(part).unwrap();
        }
        e.finish_with_map().unwrap()
    }

    #[test]
    fn gzip_reuses_the_blocks_a_change_did_not_touch() {
        let data = sample(6 << 20);
        let cache = Arc::new(MemoryCache::default());
        let (cold, map) = compress_cached(&data, &cache, 2);
        // With a cache or without, the bytes are the same.
        assert_eq!(cold, compress(&data, LayerCompression::Gzip(6), 1, 4096));
        let map = map.expect("a multi-block stream has a map");
        assert!(map.blocks.len() > 20, "{} blocks", map.blocks.len());
        assert_eq!(map.blocks[0].offset, 10);
        cache.learn(&cold, &map);

        // Insert a few bytes in the middle: only the blocks around it are compressed again.
        let mut changed = data.clone();
        changed.splice(3 << 20..3 << 20, b"an insertion".iter().copied());
        for threads in [1, 2] {
            cache.hits.store(0, std::sync::atomic::Ordering::Relaxed);
            let (warm, warm_map) = compress_cached(&changed, &cache, threads);
            assert_eq!(warm, compress(&changed, LayerCompression::Gzip(6), 2, 4096));
            let hits = cache.hits.load(std::sync::atomic::Ordering::Relaxed);
            let total = warm_map.unwrap().blocks.len();
            assert!(hits + 3 >= total, "{hits} of {total} blocks reused");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&warm[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == changed);
        }
    }

    #[test]
    fn gzip_single_block_streams_have_no_map() {
        let cache = Arc::new(MemoryCache::default());
        for len in [0, 100, GZIP_MIN_BLOCK - 1] {
            let (bytes, map) = compress_cached(&sample(len), &cache, 2);
            assert!(map.is_none(), "len {len}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back.len(), len);
        }
    }

    #[test]
    fn gzip_stores_incompressible_blocks() {
        let mut x: u64 = 99;
        let noise: Vec<u8> = (0..3 * GZIP_MAX_BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = sample(noise.len());
        let mixed: Vec<u8> = [&text[..], &noise[..], &text[..]].concat();
        let one = compress(&mixed, LayerCompression::Gzip(6), 1, 4096);
        assert_eq!(one, compress(&mixed, LayerCompression::Gzip(6), 2, 70_001));
        // The noise costs its size plus framing; the text still compresses (a block that
        // straddles text and noise goes either way).
        let text_only = compress(&text, LayerCompression::Gzip(6), 1, 4096).len();
        let bound = noise.len() + 2 * text_only + 2 * GZIP_MAX_BLOCK / 8;
        assert!(one.len() < bound, "{} >= {bound}", one.len());
        assert!(one.len() > noise.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == mixed);
        assert!(incompressible(&noise[..GZIP_MAX_BLOCK]));
        assert!(!incompressible(&text[..GZIP_MAX_BLOCK]));
    }

    #[test]
    fn gzip_codec_tag_names_level_and_fingerprint() {
        let six = gzip_codec_tag(6);
        assert!(six.starts_with("gzip-cdc2-l6-"), "{six}");
        assert_ne!(six, gzip_codec_tag(1));
        assert_eq!(six, gzip_codec_tag(6));
    }
}
