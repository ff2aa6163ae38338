//! Reading `.dockerignore` files (docker's `ignorefile.ReadAll`) and choosing which one
//! applies (BuildKit's `FILE.dockerignore` rule).

use super::{gopath, io_err, ContextError};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Longest line Go's `bufio.Scanner` accepts (its `MaxScanTokenSize`), excluding the newline.
pub const MAX_LINE: usize = 64 * 1024 - 1;

/// docker's `ignorefile.ReadAll`: one pattern per line; a UTF-8 BOM on the first line is
/// dropped; lines starting with `#` (before any trimming) are comments; the rest are trimmed,
/// empty ones skipped, and cleaned with `filepath.Clean` with a leading `/` removed (after a
/// `!`, which is kept). `source` names the file in errors.
pub fn read_all(reader: impl Read, source: &Path) -> Result<Vec<String>, ContextError> {
    let mut reader = BufReader::new(reader);
    let mut out = Vec::new();
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Read one byte past the limit so an over-long line is detected without buffering it.
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(io_err(source))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut line: &[u8] = &buf;
        if line.last() == Some(&b'\n') {
            line = &line[..line.len() - 1];
        }
        if line.len() > MAX_LINE {
            return Err(ContextError::IgnoreLineTooLong {
                path: source.to_path_buf(),
                line: line_no,
            });
        }
        // bufio.ScanLines drops one trailing CR.
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line_no == 1 {
            line = line
                .strip_prefix(b"\xEF\xBB\xBF".as_slice())
                .unwrap_or(line);
        }
        let text = String::from_utf8_lossy(line);
        if let Some(p) = normalize_line(&text) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One line of an ignore file after ReadAll's rules; `None` for comments and blank lines.
fn normalize_line(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let mut pattern = gopath::trim_space(line);
    if pattern.is_empty() {
        return None;
    }
    let invert = pattern.starts_with('!');
    if invert {
        pattern = gopath::trim_space(&pattern[1..]);
    }
    let mut p = String::new();
    if !pattern.is_empty() {
        p = gopath::clean(pattern);
        if p.len() > 1 && p.starts_with('/') {
            p.remove(0);
        }
    }
    Some(if invert { format!("!{p}") } else { p })
}

/// The ignore file that applies to a build: `FILE.dockerignore` next to the Dockerfile `FILE`
/// when it exists (BuildKit's rule), else `.dockerignore` at the context root, else none.
/// `dockerfile` is `None` when the Dockerfile comes from stdin. Symlinks are followed, as
/// BuildKit's `FollowPaths` does; a directory of that name does not count.
pub fn ignore_file_for(dockerfile: Option<&Path>, context_dir: &Path) -> Option<PathBuf> {
    if let Some(df) = dockerfile {
        if let Some(name) = df.file_name() {
            let mut ignore_name = name.to_os_string();
            ignore_name.push(".dockerignore");
            let beside = df.with_file_name(ignore_name);
            if beside.metadata().is_ok_and(|m| m.is_file()) {
                return Some(beside);
            }
        }
    }
    let default = context_dir.join(".dockerignore");
    default
        .metadata()
        .is_ok_and(|m| m.is_file())
        .then_some(default)
}

/// The patterns of the ignore file that applies, and which file that was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreFile {
    /// The file read, `None` when there is none.
    pub path: Option<PathBuf>,
    /// Its patterns after [`read_all`].
    pub patterns: Vec<String>,
}

/// [`ignore_file_for`] then [`read_all`]. An ignore file that exists but cannot be read is an
/// error (silently sending files the user meant to exclude would be worse).
pub fn load_ignore(
    dockerfile: Option<&Path>,
    context_dir: &Path,
) -> Result<IgnoreFile, ContextError> {
    let Some(path) = ignore_file_for(dockerfile, context_dir) else {
        return Ok(IgnoreFile::default());
    };
    let file = std::fs::File::open(&path).map_err(io_err(&path))?;
    let patterns = read_all(file, &path)?;
    Ok(IgnoreFile {
        path: Some(path),
        patterns,
    })
}
