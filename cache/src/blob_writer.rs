//! [`BlobWriter`]: one blob streamed into a temp file, hashed, then committed by rename.
//!
//! Large blobs are hashed on one thread and written on another, so a producer (a layer writer
//! reading files and compressing) keeps going while sha256 and write(2) run, each at its own
//! pace. Bytes travel in 1 MiB chunks through bounded channels: memory stays at a few chunks
//! whatever the blob's size. Small blobs (manifests, configs) never leave the caller's thread.

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::lock::Lease;
use crate::store::{remove_quietly, sync_dir};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::fs::{self, File};
use std::io::{self, Write};
use std::mem;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes per chunk handed to the threads.
const CHUNK: usize = 1 << 20;
/// Alignment of a chunk's memory for direct I/O (a page; more than any logical block size).
const ALIGN: usize = 4096;
/// Full chunks queued before each of the two threads; with the ones they work on and the one
/// being filled, at most `2 * IN_FLIGHT + 3` chunks exist (11 MiB).
const IN_FLIGHT: usize = 4;

/// Writes one blob: content goes to a temp file in `strata/v1/tmp/` while being hashed, and
/// becomes visible only through [`BlobWriter::commit`]. Dropping the writer without committing
/// removes the temp file. An error of the writing threads is returned by the next `write`,
/// `flush` or `commit`.
#[derive(Debug)]
pub struct BlobWriter {
    /// Bytes not yet handed on (at most [`CHUNK`]).
    chunk: Chunk,
    /// Bytes accepted so far.
    written: u64,
    state: State,
    tmp: PathBuf,
    blobs: PathBuf,
    _lease: Lease,
}

#[derive(Debug)]
enum State {
    /// No thread (yet): chunks are written here.
    Local(Sink),
    /// Threads hash and write full chunks.
    Thread(Worker),
    /// A write failed: the content is incomplete.
    Failed,
    /// `commit` ran: the temp file was renamed into place or removed.
    Committed,
}

/// The temp file and the hash of what went into it.
#[derive(Debug)]
struct Sink {
    file: File,
    hasher: Hasher,
}

impl Sink {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        Ok(())
    }
}

/// Up to [`CHUNK`] bytes. A chunk from [`Chunk::aligned`] starts on an [`ALIGN`] boundary,
/// as direct I/O wants, and never moves: its capacity is reserved up front.
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    /// Where the content starts in `buf` (padding before it aligns it).
    start: usize,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk").field("len", &self.len()).finish()
    }
}

impl Chunk {
    fn aligned() -> Chunk {
        let buf = Vec::<u8>::with_capacity(CHUNK + ALIGN);
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        let mut chunk = Chunk { buf, start };
        chunk.clear();
        chunk
    }

    fn is_aligned(&self) -> bool {
        self.bytes().as_ptr().align_offset(ALIGN) == 0
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends what fits; returns how much that was.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(CHUNK - self.len());
        self.buf.extend_from_slice(&bytes[..n]);
        n
    }

    fn clear(&mut self) {
        self.buf.resize(self.start, 0);
    }
}

/// Two threads: one hashes the chunks, then hands them to one that writes them.
#[derive(Debug)]
struct Worker {
    full: SyncSender<Chunk>,
    /// Chunks written, emptied, to be filled again.
    empty: Receiver<Chunk>,
    hashing: JoinHandle<Hasher>,
    writing: JoinHandle<io::Result<File>>,
}

impl Worker {
    fn spawn(sink: Sink) -> io::Result<Worker> {
        let Sink {
            mut file,
            mut hasher,
        } = sink;
        let (full, to_hash) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let (hashed, to_write) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let (done, empty) = mpsc::channel();
        let writing = std::thread::Builder::new()
            .name("blob-write".to_string())
            .spawn(move || {
                let mut direct = Direct::start(&file);
                for mut chunk in to_write {
                    direct.write(&mut file, &chunk)?;
                    chunk.clear();
                    // The producer may be finishing and gone; the chunk is then just freed.
                    let _ = done.send(chunk);
                }
                direct.stop(&file)?;
                Ok(file)
            })?;
        let hashing = std::thread::Builder::new()
            .name("blob-hash".to_string())
            .spawn(move || {
                for chunk in to_hash {
                    hasher.update(chunk.bytes());
                    if hashed.send(chunk).is_err() {
                        // The writing thread failed; its result says why.
                        break;
                    }
                }
                hasher
            })?;
        Ok(Worker {
            full,
            empty,
            hashing,
            writing,
        })
    }

    /// Waits for every queued chunk to be hashed and written; returns the sink or the error
    /// that stopped the writing.
    fn join(self) -> io::Result<Sink> {
        drop(self.full);
        let hasher = self.hashing.join();
        let file = self.writing.join();
        let panicked = || io::Error::other("a blob writing thread panicked");
        let file = file.map_err(|_| panicked())??;
        let hasher = hasher.map_err(|_| panicked())?;
        Ok(Sink { file, hasher })
    }
}

impl BlobWriter {
    pub(crate) fn new(file: File, tmp: PathBuf, blobs: PathBuf, lease: Lease) -> BlobWriter {
        BlobWriter {
            // Grows as needed: most blobs are small documents.
            chunk: Chunk::default(),
            written: 0,
            state: State::Local(Sink {
                file,
                hasher: Hasher::new(),
            }),
            tmp,
            blobs,
            _lease: lease,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Digest of the bytes written so far (waits until they are all hashed).
    pub fn digest(&mut self) -> Result<Digest> {
        match self.drain() {
            Ok(()) => match &self.state {
                State::Local(sink) => Ok(sink.hasher.digest()),
                _ => unreachable!("drain leaves the sink here"),
            },
            Err(e) => Err(self.stream_error(e)),
        }
    }

    /// Finishes the blob: checks the digest computed while streaming against `expected` (a
    /// mismatch is [`Error::DigestMismatch`] and the content is discarded, never visible),
    /// fsyncs the file, renames it into `blobs/sha256/` and fsyncs that directory. When the
    /// blob already exists the temp file is just removed. Returns the digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let result = match self.drain() {
            Ok(()) => match mem::replace(&mut self.state, State::Committed) {
                State::Local(sink) => self.publish(sink, expected),
                _ => unreachable!("drain leaves the sink here"),
            },
            Err(e) => Err(self.stream_error(e)),
        };
        // Whatever happened, the temp file must not outlive this call (after a successful
        // rename it no longer exists and this is a no-op).
        remove_quietly(&self.tmp);
        result
    }

    fn publish(&self, sink: Sink, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let Sink { file, hasher } = sink;
        let (digest, size) = hasher.finish();
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(Error::DigestMismatch {
                    expected: *expected,
                    actual: digest,
                    size,
                });
            }
        }
        file.sync_all().ctx("fsync", &self.tmp)?;
        drop(file);
        let dest = self.blobs.join(digest.hex());
        // Same name means same content; a size difference means the old file is damaged
        // (truncated), so replace it.
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok((digest, size));
        }
        fs::rename(&self.tmp, &dest).ctx("rename", &dest)?;
        sync_dir(&self.blobs)?;
        Ok((digest, size))
    }

    fn stream_error(&self, source: io::Error) -> Error {
        Error::Stream {
            context: format!("writing {}", self.tmp.display()),
            source,
        }
    }

    /// Writes out everything accepted so far and brings the sink back to this thread.
    fn drain(&mut self) -> io::Result<()> {
        let mut sink = match mem::replace(&mut self.state, State::Failed) {
            State::Local(sink) => sink,
            State::Thread(worker) => worker.join()?,
            State::Failed | State::Committed => return Err(used_after_failure()),
        };
        sink.put(self.chunk.bytes())?;
        self.chunk.clear();
        self.state = State::Local(sink);
        Ok(())
    }

    /// Hands the full chunk to the threads, starting them when needed.
    fn hand_off(&mut self) -> io::Result<()> {
        let next = match &self.state {
            State::Thread(worker) => worker.empty.try_recv().ok(),
            _ => None,
        }
        .unwrap_or_else(Chunk::aligned);
        let mut full = mem::replace(&mut self.chunk, next);
        if !full.is_aligned() {
            // The first chunk grew in place; direct I/O wants it aligned.
            let mut aligned = Chunk::aligned();
            aligned.fill(full.bytes());
            full = aligned;
        }
        let worker = match mem::replace(&mut self.state, State::Failed) {
            State::Local(sink) => Worker::spawn(sink)?,
            State::Thread(worker) => worker,
            State::Failed | State::Committed => return Err(used_after_failure()),
        };
        if worker.full.send(full).is_err() {
            // The threads stopped on an error; it is in the join result.
            return Err(worker
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the blob writing threads stopped")));
        }
        self.state = State::Thread(worker);
        Ok(())
    }
}

/// Direct I/O for the chunks of a large blob: the bytes go from the chunk to the disk, without
/// filling the page cache with a blob nobody reads soon, and the fsync at commit finds little
/// left to write. Where the file system refuses it (or a write cannot be direct), writes are
/// plain ones again.
struct Direct {
    on: bool,
}

impl Direct {
    fn start(file: &File) -> Direct {
        let on = rustix::fs::fcntl_getfl(file)
            .and_then(|flags| rustix::fs::fcntl_setfl(file, flags | OFlags::DIRECT))
            .is_ok();
        Direct { on }
    }

    /// Writes all of `chunk` at the file's offset.
    fn write(&mut self, file: &mut File, chunk: &Chunk) -> io::Result<()> {
        let bytes = chunk.bytes();
        let mut done = 0;
        while done < bytes.len() {
            match file.write(&bytes[done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Unaligned (a short write before, an odd offset, a larger block size):
                // the rest of the blob goes through the page cache.
                Err(e) if self.on && e.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
                    self.stop(file)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Back to plain writes (the tail of a blob is rarely a whole block).
    fn stop(&mut self, file: &File) -> io::Result<()> {
        if self.on {
            let flags = rustix::fs::fcntl_getfl(file)?;
            rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
            self.on = false;
        }
        Ok(())
    }
}

fn used_after_failure() -> io::Error {
    io::Error::other("BlobWriter used after an earlier error or commit")
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if matches!(self.state, State::Failed | State::Committed) {
            return Err(used_after_failure());
        }
        let n = self.chunk.fill(buf);
        self.written += n as u64;
        if self.chunk.len() == CHUNK {
            self.hand_off()?;
        }
        Ok(n)
    }

    /// Writes everything accepted so far into the temp file (waiting for the thread).
    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        match mem::replace(&mut self.state, State::Failed) {
            State::Committed => {}
            state => {
                // Not committed: wait for the threads so nothing writes the file after its
                // removal.
                if let State::Thread(worker) = state {
                    let _ = worker.join();
                }
                remove_quietly(&self.tmp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::fs::OpenOptions;

    /// Bytes that differ at every offset, so a lost, doubled or reordered chunk shows.
    fn pattern(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn tmp_files(store: &Store) -> usize {
        fs::read_dir(store.tmp_dir()).unwrap().count()
    }

    /// Writes `data` in pieces of `piece` bytes.
    fn write_in_pieces(w: &mut BlobWriter, data: &[u8], piece: usize) {
        for part in data.chunks(piece) {
            w.write_all(part).unwrap();
        }
    }

    #[test]
    fn large_blob_round_trips_through_the_threads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Several whole chunks and an odd tail, written in odd pieces.
        let data = pattern(5 * CHUNK + 12_345);
        let mut w = store.blob_writer().unwrap();
        write_in_pieces(&mut w, &data, 7919);
        assert!(matches!(w.state, State::Thread(_)), "{:?}", w.state);
        assert_eq!(w.bytes_written(), data.len() as u64);
        let expected = Digest::of_bytes(&data);
        let (digest, size) = w.commit(Some(&expected)).unwrap();
        assert_eq!((digest, size), (expected, data.len() as u64));
        assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), data);
        assert_eq!(tmp_files(&store), 0);
    }

    #[test]
    fn digest_midway_then_more_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = pattern(4 * CHUNK + 999);
        let mut w = store.blob_writer().unwrap();
        // An odd offset when the threads start again: direct I/O must give way.
        let (a, b) = data.split_at(CHUNK + 4097);
        write_in_pieces(&mut w, a, 65_536);
        assert_eq!(w.digest().unwrap(), Digest::of_bytes(a));
        assert!(matches!(w.state, State::Local(_)));
        write_in_pieces(&mut w, b, 100_000);
        assert_eq!(w.digest().unwrap(), Digest::of_bytes(&data));
        let (digest, _) = w.commit(None).unwrap();
        assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), data);
    }

    #[test]
    fn mismatch_of_a_large_blob_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = pattern(3 * CHUNK + 1);
        let mut w = store.blob_writer().unwrap();
        write_in_pieces(&mut w, &data, 1 << 16);
        let wrong = Digest::of_bytes(b"something else");
        match w.commit(Some(&wrong)) {
            Err(Error::DigestMismatch {
                expected,
                actual,
                size,
            }) => {
                assert_eq!(expected, wrong);
                assert_eq!(actual, Digest::of_bytes(&data));
                assert_eq!(size, data.len() as u64);
            }
            other => panic!("{other:?}"),
        }
        assert!(store.list_blobs().unwrap().is_empty());
        assert_eq!(tmp_files(&store), 0);
    }

    #[test]
    fn dropping_a_large_writer_midway_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.blob_writer().unwrap();
        write_in_pieces(&mut w, &pattern(6 * CHUNK + 3), 1 << 20);
        assert_eq!(tmp_files(&store), 1);
        drop(w);
        assert_eq!(tmp_files(&store), 0);
        assert!(store.list_blobs().unwrap().is_empty());
    }

    /// A writer whose file refuses every byte (ENOSPC), like a full disk.
    fn full_disk_writer(store: &Store) -> BlobWriter {
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let tmp = store.tmp_dir().join("full-disk-test");
        fs::write(&tmp, b"").unwrap();
        BlobWriter::new(
            file,
            tmp,
            store.blobs_dir().to_path_buf(),
            store.lease().unwrap(),
        )
    }

    fn is_enospc(e: &io::Error) -> bool {
        e.raw_os_error() == Some(Errno::NOSPC.raw_os_error())
    }

    #[test]
    fn a_write_error_of_the_threads_surfaces_at_write_or_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = full_disk_writer(&store);
        let data = pattern(CHUNK);
        let mut failed = None;
        // The queue holds a few chunks; the error arrives within a bounded number of writes.
        for _ in 0..4 * IN_FLIGHT + 8 {
            if let Err(e) = w.write_all(&data) {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("writing into a full disk never failed");
        assert!(is_enospc(&e), "{e}");
        // Later calls fail too, and nothing becomes visible.
        assert!(w.write_all(b"more").is_err());
        assert!(w.commit(None).is_err());
        assert!(store.list_blobs().unwrap().is_empty());
        assert_eq!(tmp_files(&store), 0);
    }

    #[test]
    fn a_write_error_of_a_small_blob_surfaces_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = full_disk_writer(&store);
        w.write_all(b"a small document").unwrap();
        match w.commit(None) {
            Err(Error::Stream { source, .. }) => assert!(is_enospc(&source), "{source}"),
            other => panic!("{other:?}"),
        }
        assert!(store.list_blobs().unwrap().is_empty());
        assert_eq!(tmp_files(&store), 0);
    }

    #[test]
    fn a_write_error_after_a_large_blob_is_queued_surfaces_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = full_disk_writer(&store);
        // One chunk starts the threads, which fail; the producer learns it at commit at the
        // latest.
        let first = w.write_all(&pattern(CHUNK + 10));
        let committed = w.commit(None);
        assert!(first.is_err() || committed.is_err());
        if let Err(Error::Stream { source, .. }) = &committed {
            assert!(is_enospc(source), "{source}");
        }
        assert!(store.list_blobs().unwrap().is_empty());
        assert_eq!(tmp_files(&store), 0);
    }
}
