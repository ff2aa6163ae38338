//! Content digests (`sha256:<hex>`) and streaming hashers.
//!
//! A [`Digest`] is only ever produced by hashing bytes ([`Digest::of_bytes`], [`DigestWriter`],
//! [`DigestReader`]) or by parsing and validating a string; there is no unchecked constructor.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// The only digest algorithm the store supports.
pub const SHA256: &str = "sha256";

/// Why a string is not a valid [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("invalid digest {0:?}: missing \"sha256:\" prefix")]
    MissingAlgorithm(String),
    /// An algorithm other than sha256.
    #[error("invalid digest {digest:?}: unsupported algorithm {algorithm:?} (only sha256)")]
    UnsupportedAlgorithm {
        /// The whole input.
        digest: String,
        /// The algorithm it named.
        algorithm: String,
    },
    /// The hex part has the wrong length.
    #[error("invalid digest {digest:?}: expected 64 hex characters, found {len}")]
    BadLength {
        /// The whole input.
        digest: String,
        /// Length of the hex part.
        len: usize,
    },
    /// The hex part has a character outside `[0-9a-f]` (upper case is refused too).
    #[error("invalid digest {0:?}: hex part must be lower-case hexadecimal")]
    BadHex(String),
}

/// A sha256 content digest, displayed and serialized as `sha256:<64 lower-case hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Hashes `bytes` (for small in-memory documents; stream larger content through
    /// [`DigestWriter`] or [`DigestReader`]).
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// Parses the bare 64-character hex part (as found in a blob file name).
    pub fn from_hex(hex_part: &str) -> Result<Digest, DigestError> {
        Self::parse_hex(hex_part, &format!("{SHA256}:{hex_part}"))
    }

    fn parse_hex(hex_part: &str, whole: &str) -> Result<Digest, DigestError> {
        if hex_part.len() != 64 {
            return Err(DigestError::BadLength {
                digest: whole.to_string(),
                len: hex_part.len(),
            });
        }
        // hex::decode accepts upper case; canonical form is lower case only.
        if !hex_part
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::BadHex(whole.to_string()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| DigestError::BadHex(whole.into()))?;
        Ok(Digest(out))
    }

    /// The algorithm name, always `"sha256"`.
    pub fn algorithm(&self) -> &'static str {
        SHA256
    }

    /// The 64-character lower-case hex part.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex characters, as docker shows image IDs.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex_part)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_string()));
        };
        if algorithm != SHA256 {
            return Err(DigestError::UnsupportedAlgorithm {
                digest: s.to_string(),
                algorithm: algorithm.to_string(),
            });
        }
        Self::parse_hex(hex_part, s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256}:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256 with a byte count; the building block of the streaming wrappers.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").field("len", &self.len).finish()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Digest of everything fed so far (the hasher stays usable).
    pub fn digest(&self) -> Digest {
        Digest(self.sha.clone().finalize().into())
    }

    /// Digest and byte count, consuming the hasher.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.sha.finalize().into()), self.len)
    }
}

/// A writer that hashes and counts every byte it passes on to `W`.
///
/// Only bytes the inner writer accepted are hashed, so short writes are accounted correctly.
pub struct DigestWriter<W: Write> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> DigestWriter<W> {
        DigestWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// Number of bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.hasher.len()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably (bytes written through it directly are not hashed).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the inner writer, the digest and the byte count. Does not flush.
    pub fn finish(self) -> (W, Digest, u64) {
        let (digest, len) = self.hasher.finish();
        (self.inner, digest, len)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct DigestReader<R: Read> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> DigestReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> DigestReader<R> {
        DigestReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Digest of the bytes read so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// Number of bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.hasher.len()
    }

    /// Returns the inner reader, the digest and the byte count.
    pub fn finish(self) -> (R, Digest, u64) {
        let (digest, len) = self.hasher.finish();
        (self.inner, digest, len)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A reader that checks, when it reaches end of input, that the content had the expected
/// digest (and size, when given); a mismatch is an `InvalidData` error from `read` instead of
/// a clean end of file, so a consumer never mistakes corrupt content for complete content.
pub struct VerifyingReader<R: Read> {
    inner: DigestReader<R>,
    expected: Digest,
    expected_size: Option<u64>,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting content with digest `expected` and, if given, `size` bytes.
    pub fn new(inner: R, expected: Digest, size: Option<u64>) -> VerifyingReader<R> {
        VerifyingReader {
            inner: DigestReader::new(inner),
            expected,
            expected_size: size,
            verified: false,
        }
    }

    /// True once end of input was reached and the content matched.
    pub fn is_verified(&self) -> bool {
        self.verified
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if let Some(size) = self.expected_size {
            if self.inner.bytes_read() > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content of {} is longer than {size} bytes", self.expected),
                ));
            }
        }
        if n == 0 && !self.verified {
            let actual = self.inner.digest();
            let len = self.inner.bytes_read();
            if actual != self.expected || self.expected_size.is_some_and(|s| s != len) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "content mismatch: expected {}, read {len} bytes with digest {actual}",
                        self.expected
                    ),
                ));
            }
            self.verified = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_display_roundtrip() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d, Digest::of_bytes(b""));
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex().len(), 64);
        assert_eq!(Digest::from_hex(&d.hex()).unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(DigestError::MissingAlgorithm(_))
        ));
        assert!(matches!(
            "sha512:abcd".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            "sha256:abcd".parse::<Digest>(),
            Err(DigestError::BadLength { len: 4, .. })
        ));
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(
            upper.parse::<Digest>(),
            Err(DigestError::BadHex(_))
        ));
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = DigestWriter::new(Vec::new());
        for chunk in data.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        let (out, d, n) = w.finish();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::of_bytes(&data));

        let mut r = DigestReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.digest(), d);
        assert_eq!(r.bytes_read(), n);
    }

    #[test]
    fn verifying_reader_detects_mismatch() {
        let good = Digest::of_bytes(b"hello");
        let mut out = Vec::new();
        let mut r = VerifyingReader::new(&b"hello"[..], good, Some(5));
        r.read_to_end(&mut out).unwrap();
        assert!(r.is_verified());
        let mut r = VerifyingReader::new(&b"hellp"[..], good, None);
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut r = VerifyingReader::new(&b"hello!"[..], good, Some(5));
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
