//! A streaming tar structure check: fed the uncompressed bytes of a layer as they pass by, it
//! proves the stream is a whole tar archive (valid header checksums, bodies complete, an
//! end-of-archive marker) without holding more than one header block.

use std::io::{self, Write};

const BLOCK: usize = 512;

/// What the checker expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a header block.
    Header,
    /// Skipping this many body bytes (padded to whole blocks).
    Body(u64),
    /// The end-of-archive marker was seen; the rest is padding.
    Done,
}

/// A `Write` sink that checks tar structure; call [`TarCheck::finish`] at the end.
#[derive(Debug)]
pub struct TarCheck {
    state: State,
    block: Vec<u8>,
    offset: u64,
    entries: u64,
}

impl Default for TarCheck {
    fn default() -> Self {
        TarCheck {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            offset: 0,
            entries: 0,
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses a numeric header field: NUL/space-terminated octal, or GNU base-256.
fn parse_number(field: &[u8]) -> Option<u64> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            let mut value: u64 = u64::from(first & 0x7f);
            for &b in &field[1..] {
                value = value.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            return Some(value);
        }
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let text = std::str::from_utf8(&text).ok()?;
    u64::from_str_radix(text, 8).ok()
}

impl TarCheck {
    /// A checker at the start of an archive.
    pub fn new() -> TarCheck {
        TarCheck::default()
    }

    /// Entries (headers, including extension headers) seen so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn header(&mut self) -> io::Result<()> {
        let at = self.offset - BLOCK as u64;
        if self.block.iter().all(|&b| b == 0) {
            self.state = State::Done;
            return Ok(());
        }
        let stored = parse_number(&self.block[148..156])
            .ok_or_else(|| invalid(format!("not a tar archive: bad header at byte {at}")))?;
        let computed: u64 = self
            .block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u64::from(b' ')
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != computed {
            return Err(invalid(format!(
                "not a tar archive: header checksum mismatch at byte {at}"
            )));
        }
        let size = parse_number(&self.block[124..136])
            .ok_or_else(|| invalid(format!("invalid size in tar header at byte {at}")))?;
        self.entries += 1;
        // Links, directories and devices carry no body whatever their size field says.
        let has_body = !matches!(self.block[156], b'1' | b'2' | b'3' | b'4' | b'5' | b'6');
        let padded = if has_body {
            size.div_ceil(BLOCK as u64) * BLOCK as u64
        } else {
            0
        };
        self.state = if padded == 0 {
            State::Header
        } else {
            State::Body(padded)
        };
        Ok(())
    }

    /// Succeeds only when the stream ended after a complete archive.
    pub fn finish(&self) -> io::Result<u64> {
        match self.state {
            State::Done => Ok(self.entries),
            _ if self.offset == 0 => Err(invalid("empty input: not a tar archive".into())),
            _ => Err(invalid(format!(
                "truncated tar archive: input ended at byte {} inside the archive",
                self.offset
            ))),
        }
    }
}

impl Write for TarCheck {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            match self.state {
                State::Done => {
                    self.offset += buf.len() as u64;
                    break;
                }
                State::Body(left) => {
                    let take = (left.min(buf.len() as u64)) as usize;
                    buf = &buf[take..];
                    self.offset += take as u64;
                    self.state = if left == take as u64 {
                        State::Header
                    } else {
                        State::Body(left - take as u64)
                    };
                }
                State::Header => {
                    let take = (BLOCK - self.block.len()).min(buf.len());
                    self.block.extend_from_slice(&buf[..take]);
                    buf = &buf[take..];
                    self.offset += take as u64;
                    if self.block.len() == BLOCK {
                        let result = self.header();
                        self.block.clear();
                        result?;
                    }
                }
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(700);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "a/file", &[7u8; 700][..])
            .unwrap();
        builder.into_inner().unwrap()
    }

    fn check(bytes: &[u8], chunk: usize) -> io::Result<u64> {
        let mut c = TarCheck::new();
        for part in bytes.chunks(chunk) {
            c.write_all(part)?;
        }
        c.finish()
    }

    #[test]
    fn accepts_whole_archive_in_any_chunking() {
        let bytes = sample();
        for chunk in [1, 7, 512, 4096] {
            assert_eq!(check(&bytes, chunk).unwrap(), 1);
        }
    }

    #[test]
    fn refuses_truncation_anywhere() {
        let bytes = sample();
        for cut in [0, 100, 512, 1024, 1536] {
            assert!(check(&bytes[..cut], 64).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_non_tar() {
        let text = vec![b'x'; 2048];
        let err = check(&text, 2048).unwrap_err();
        assert!(err.to_string().contains("not a tar archive"), "{err}");
    }
}
