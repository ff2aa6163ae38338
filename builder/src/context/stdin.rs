//! `strata build -`: what arrives on stdin is either a tar of the context (plain or
//! gzip/bzip2/xz/zstd, recognised by content) or, as docker does, a Dockerfile built with an
//! empty context (docker's `build.GetContextFromReader` and `IsArchive`).

use super::ContextError;
use crate::layer::{decompress, extract_layer, Compression, ExtractOptions};
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

/// A tar header block.
const BLOCK: usize = 512;

/// What stdin held.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinContext {
    /// A tar archive, now unpacked into the destination directory.
    Archive,
    /// Not an archive: the Dockerfile's text.
    Dockerfile(String),
}

/// Whether `head` (the first 512 bytes, or all there is) starts an archive: a compressed
/// stream, or a tar header whose checksum is right.
pub fn is_archive(head: &[u8]) -> bool {
    if Compression::detect(head) != Compression::None {
        return true;
    }
    if head.len() < BLOCK || head[..BLOCK].iter().all(|&b| b == 0) {
        return false;
    }
    let field = &head[148..156];
    let stored = std::str::from_utf8(field)
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = head[..BLOCK]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    stored == Some(sum)
}

/// Reads `input`: an archive is unpacked into `dest` (an empty directory, every path treated
/// as hostile); anything else is returned as the Dockerfile's text.
pub fn read_stdin_context(mut input: impl Read, dest: &Path) -> Result<StdinContext, ContextError> {
    let io_err = |e: std::io::Error| ContextError::Io {
        path: "stdin".into(),
        source: e,
    };
    let mut head = Vec::with_capacity(BLOCK);
    (&mut input)
        .take(BLOCK as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let whole = Cursor::new(head.clone()).chain(input);
    if !is_archive(&head) {
        let mut bytes = Vec::new();
        BufReader::new(whole)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "neither a tar archive nor a UTF-8 Dockerfile",
            ))
        })?;
        return Ok(StdinContext::Dockerfile(text));
    }
    let (_, tar) = decompress(BufReader::with_capacity(1 << 16, whole)).map_err(io_err)?;
    extract_layer(tar, dest, &ExtractOptions::default()).map_err(|e| ContextError::Io {
        path: dest.to_path_buf(),
        source: std::io::Error::other(format!("unpacking the context from stdin: {e}")),
    })?;
    Ok(StdinContext::Archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn tar_or_dockerfile_by_content() {
        let tar = tar_of(&[("Dockerfile", "FROM scratch\n"), ("a/b.txt", "b")]);
        assert!(is_archive(&tar[..512]));
        assert!(!is_archive(b"FROM scratch\n"));
        assert!(!is_archive(&[0u8; 1024]));
        let mut text = "FROM scratch\n".repeat(100).into_bytes();
        text.truncate(600);
        assert!(!is_archive(&text));

        let dir = tempfile::tempdir().unwrap();
        let got = read_stdin_context(&tar[..], dir.path()).unwrap();
        assert_eq!(got, StdinContext::Archive);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a/b.txt")).unwrap(),
            "b"
        );

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_stdin_context(&gz[..], dir.path()).unwrap(),
            StdinContext::Archive
        );
        assert!(dir.path().join("Dockerfile").is_file());

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_stdin_context(&b"FROM base\nRUN true\n"[..], dir.path()).unwrap(),
            StdinContext::Dockerfile("FROM base\nRUN true\n".into())
        );
    }
}
