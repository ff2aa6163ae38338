//! Multi-core layer compression whose output does not depend on the thread count.
//!
//! - zstd: libzstd's own worker pool. With one or more workers the frame is cut into jobs of a
//!   fixed size (2 MiB, set explicitly), so 1 and N workers give the same bytes; "no worker"
//!   (the single-threaded mode) would differ, so we never use it.
//! - gzip: a pigz-style single gzip member. The input is cut into fixed 128 KiB blocks; each is
//!   deflated independently (in any thread) with the previous 32 KiB as preset dictionary and
//!   ends with a sync flush, the last with a final block. The compressed bytes of a block are a
//!   function of (level, dictionary, block) only, so the stream is the same for any thread
//!   count, and any gzip reader decodes it as one member.

use super::LayerCompression;
use flate2::{Compress, Crc, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Uncompressed bytes per gzip block (pigz's default).
const GZIP_BLOCK: usize = 128 * 1024;
/// The deflate window: how much of the previous block primes the next.
const GZIP_DICT: usize = 32 * 1024;
/// Uncompressed bytes per zstd job (each job is compressed by one worker).
const ZSTD_JOB: u32 = 2 << 20;

/// The number of compression threads to use when the caller says 0: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        let inner = match compression {
            LayerCompression::None => Inner::Plain(sink),
            LayerCompression::Gzip(level) => {
                Inner::Gzip(Box::new(GzipParallel::new(sink, level.min(9), threads)))
            }
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
        match self.inner {
            Inner::Plain(w) => Ok(w),
            Inner::Gzip(g) => (*g).finish(),
            Inner::Zstd(e) => e.finish(),
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
    last: bool,
}

/// Deflates one block (raw deflate, no zlib header) primed with `dict`.
fn deflate_block(job: &Job) -> io::Result<Vec<u8>> {
    // A fresh state per block: nothing of a previous block can leak into this one's bytes.
    let mut z = Compress::new(flate2::Compression::new(job.level), false);
    if !job.dict.is_empty() {
        z.set_dictionary(&job.dict)
            .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() + job.data.len() / 16 + 64);
    loop {
        let consumed = z.total_in() as usize;
        let status = z
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let input_done = z.total_in() as usize == job.data.len();
        let done = match status {
            Status::StreamEnd => true,
            // zlib's rule: a flush is complete when it left output space unused.
            Status::Ok | Status::BufError => !job.last && input_done && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}

/// The worker pool of the gzip encoder.
struct Pool {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<(u64, io::Result<Vec<u8>>)>,
    threads: Vec<JoinHandle<()>>,
    limit: u64,
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let (res_tx, res_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let res_tx: Sender<_> = res_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if res_tx.send((job.seq, deflate_block(&job))).is_err() {
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
    crc: Crc,
    size: u64,
    pool: Option<Pool>,
    next_seq: u64,
    next_write: u64,
    done: BTreeMap<u64, Vec<u8>>,
    header_written: bool,
}

impl<W: Write> GzipParallel<W> {
    fn new(sink: W, level: u32, threads: usize) -> GzipParallel<W> {
        GzipParallel {
            sink,
            level,
            block: Vec::with_capacity(GZIP_BLOCK),
            dict: Vec::new(),
            crc: Crc::new(),
            size: 0,
            // One thread compresses inline: same algorithm, same bytes, no hand-off cost.
            pool: (threads > 1).then(|| Pool::new(threads)),
            next_seq: 0,
            next_write: 0,
            done: BTreeMap::new(),
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
            self.sink
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Hands the current block to a worker (or compresses it here).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.header()?;
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(GZIP_BLOCK));
        let tail = data.len().saturating_sub(GZIP_DICT);
        let next_dict = data[tail..].to_vec();
        let job = Job {
            seq: self.next_seq,
            level: self.level,
            dict: std::mem::replace(&mut self.dict, next_dict),
            data,
            last,
        };
        self.next_seq += 1;
        match &self.pool {
            None => {
                let out = deflate_block(&job)?;
                self.sink.write_all(&out)?;
                self.next_write += 1;
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
        while let Some(out) = self.done.remove(&self.next_write) {
            self.sink.write_all(&out)?;
            self.next_write += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while self.next_write < self.next_seq {
            self.collect(true)?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 says.
        trailer[4..].copy_from_slice(&(self.size as u32).to_le_bytes());
        self.sink.write_all(&trailer)?;
        self.pool.take();
        let GzipParallel { sink, .. } = self;
        Ok(sink)
    }
}

fn pool_gone() -> io::Error {
    io::Error::other("gzip compression worker stopped")
}

impl<W: Write> Write for GzipParallel<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(GZIP_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..take]);
        self.crc.update(&buf[..take]);
        self.size += take as u64;
        if self.block.len() == GZIP_BLOCK {
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
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            5 * GZIP_BLOCK + 77,
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
}
