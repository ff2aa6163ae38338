//! The attach protocol between a container's monitor and its clients, over the monitor's
//! unix socket: frames of `[kind: u8][length: u32 big-endian][payload]`.
//!
//! A client first sends [`Frame::Hello`] (whether it sends stdin), then [`Frame::Stdin`],
//! [`Frame::StdinEof`] and [`Frame::Resize`]; the monitor sends [`Frame::Stdout`],
//! [`Frame::Stderr`] as the process writes, and [`Frame::Exit`] once the container ended
//! (after its removal for `--rm`), then closes.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

const HELLO: u8 = 0;
const STDIN: u8 = 1;
const STDIN_EOF: u8 = 2;
const RESIZE: u8 = 3;
const STDOUT: u8 = 11;
const STDERR: u8 = 12;
const EXIT: u8 = 13;

/// Largest payload accepted.
const MAX_FRAME: u32 = 1 << 20;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client -> monitor, first: whether this client sends stdin.
    Hello {
        /// The client forwards its stdin.
        stdin: bool,
    },
    /// Client -> monitor: bytes for the process's stdin.
    Stdin(Vec<u8>),
    /// Client -> monitor: the client's stdin ended (closes the process's stdin pipe).
    StdinEof,
    /// Client -> monitor: the terminal's size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Monitor -> client: process output on stdout (everything, with a tty).
    Stdout(Vec<u8>),
    /// Monitor -> client: process output on stderr.
    Stderr(Vec<u8>),
    /// Monitor -> client: the container ended with this code.
    Exit(i32),
}

impl Frame {
    /// Writes the frame.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let (kind, payload): (u8, std::borrow::Cow<'_, [u8]>) = match self {
            Frame::Hello { stdin } => (HELLO, vec![*stdin as u8].into()),
            Frame::Stdin(b) => (STDIN, b.as_slice().into()),
            Frame::StdinEof => (STDIN_EOF, Vec::new().into()),
            Frame::Resize { rows, cols } => {
                let mut p = rows.to_be_bytes().to_vec();
                p.extend_from_slice(&cols.to_be_bytes());
                (RESIZE, p.into())
            }
            Frame::Stdout(b) => (STDOUT, b.as_slice().into()),
            Frame::Stderr(b) => (STDERR, b.as_slice().into()),
            Frame::Exit(code) => (EXIT, code.to_be_bytes().to_vec().into()),
        };
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(kind);
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&payload);
        w.write_all(&buf)?;
        w.flush()
    }

    /// Reads one frame; `Ok(None)` at a clean end of stream.
    pub fn read_from(r: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        match r.read_exact(&mut head[..1]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        r.read_exact(&mut head[1..])?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed frame");
        Ok(Some(match head[0] {
            HELLO => Frame::Hello {
                stdin: payload.first().is_some_and(|b| *b != 0),
            },
            STDIN => Frame::Stdin(payload),
            STDIN_EOF => Frame::StdinEof,
            RESIZE if payload.len() == 4 => Frame::Resize {
                rows: u16::from_be_bytes([payload[0], payload[1]]),
                cols: u16::from_be_bytes([payload[2], payload[3]]),
            },
            STDOUT => Frame::Stdout(payload),
            STDERR => Frame::Stderr(payload),
            EXIT if payload.len() == 4 => Frame::Exit(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            _ => return Err(bad()),
        }))
    }
}

/// A short path for a socket in `dir`: socket paths are limited to 107 bytes, and a store
/// may be deep. Goes through `/proc/self/fd/N` of an `O_PATH` descriptor of `dir`, which the
/// caller keeps open while it binds or connects.
pub fn short_socket_path(dir: &Path, name: &str) -> io::Result<(std::fs::File, String)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let path = format!("/proc/self/fd/{}/{name}", d.as_raw_fd());
    Ok((d, path))
}

/// Connects to the socket `name` in `dir`.
pub fn connect(dir: &Path, name: &str) -> io::Result<UnixStream> {
    let (_d, path) = short_socket_path(dir, name)?;
    UnixStream::connect(path)
}

#[cfg(test)]
mod tests {
    use super::Frame;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Hello { stdin: true },
            Frame::Stdin(b"abc".to_vec()),
            Frame::StdinEof,
            Frame::Resize { rows: 24, cols: 80 },
            Frame::Stdout(vec![0; 70_000]),
            Frame::Stderr(vec![]),
            Frame::Exit(-1),
        ];
        let mut buf = Vec::new();
        for f in &frames {
            f.write_to(&mut buf).unwrap();
        }
        let mut r = buf.as_slice();
        for f in &frames {
            assert_eq!(Frame::read_from(&mut r).unwrap().as_ref(), Some(f));
        }
        assert_eq!(Frame::read_from(&mut r).unwrap(), None);
        assert!(Frame::read_from(&mut &[99u8, 0, 0, 0, 0][..]).is_err());
    }
}
