//! The diffID stage of the layer pipeline: sha256 of the tar, or only its length when the
//! caller takes the diffID from the blob (an uncompressed layer's blob is the tar itself, and
//! the store's blob writer hashes it anyway).

use std::io::{self, Write};
use strata_cache::{Digest, DigestWriter};

/// Passes the tar on, hashing it unless told not to.
pub(super) enum TarHash<W: Write> {
    /// The diffID is computed here.
    Hashing(DigestWriter<W>),
    /// Only the bytes are counted.
    Counting(W, u64),
}

impl<W: Write> TarHash<W> {
    pub(super) fn new(inner: W, hash: bool) -> TarHash<W> {
        match hash {
            true => TarHash::Hashing(DigestWriter::new(inner)),
            false => TarHash::Counting(inner, 0),
        }
    }

    /// The inner writer, the diffID (when hashed) and the tar's length. Does not flush.
    pub(super) fn finish(self) -> (W, Option<Digest>, u64) {
        match self {
            TarHash::Hashing(w) => {
                let (inner, digest, len) = w.finish();
                (inner, Some(digest), len)
            }
            TarHash::Counting(inner, len) => (inner, None, len),
        }
    }
}

impl<W: Write> Write for TarHash<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TarHash::Hashing(w) => w.write(buf),
            TarHash::Counting(w, len) => {
                let n = w.write(buf)?;
                *len += n as u64;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TarHash::Hashing(w) => w.flush(),
            TarHash::Counting(w, _) => w.flush(),
        }
    }
}
