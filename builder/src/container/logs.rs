//! Container logs in docker's json-file format: one JSON object per line of output,
//! `{"log":"text\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`, written by
//! the monitor, read by `logs`.

use super::{Container, ContainerError, ContainerStore, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// Longest line kept in one entry; longer lines are split, as docker does at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When the monitor read it.
    pub time: DateTime<Utc>,
}

/// Appends entries to a container's log, a line at a time per stream.
#[derive(Debug)]
pub struct LogWriter {
    file: std::io::BufWriter<File>,
    partial: [Vec<u8>; 2],
    /// The time of the output being written (one clock read per chunk).
    now: DateTime<Utc>,
}

impl LogWriter {
    /// Opens (appending to) the log at `path`.
    pub fn open(path: &Path) -> Result<LogWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(ContainerError::io(format!("open {}", path.display())))?;
        Ok(LogWriter {
            file: std::io::BufWriter::with_capacity(64 * 1024, file),
            partial: [Vec::new(), Vec::new()],
            now: Utc::now(),
        })
    }

    /// Adds output of `stream` (0 stdout, 1 stderr); complete lines are written (and
    /// flushed to the file) at once.
    pub fn write(&mut self, stream: usize, mut bytes: &[u8]) {
        self.now = Utc::now();
        while !bytes.is_empty() {
            let buf = &mut self.partial[stream];
            match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    buf.extend_from_slice(&bytes[..=i]);
                    bytes = &bytes[i + 1..];
                    self.flush_stream(stream);
                }
                None => {
                    buf.extend_from_slice(bytes);
                    bytes = &[];
                    if self.partial[stream].len() >= MAX_LINE {
                        self.flush_stream(stream);
                    }
                }
            }
        }
        self.flush_file();
    }

    fn flush_file(&mut self) {
        if let Err(e) = self.file.flush() {
            tracing::warn!("container log: {e}");
        }
    }

    /// Writes what is left of unfinished lines (at the end of the output).
    pub fn finish(&mut self) {
        self.now = Utc::now();
        self.flush_stream(0);
        self.flush_stream(1);
        self.flush_file();
    }

    fn flush_stream(&mut self, stream: usize) {
        if self.partial[stream].is_empty() {
            return;
        }
        // Written by hand (one buffer, no per-line allocation): a chatty container's
        // output rate must not be bounded by its log.
        let mut line = Vec::with_capacity(self.partial[stream].len() + 80);
        line.extend_from_slice(b"{\"log\":\"");
        match std::str::from_utf8(&self.partial[stream]) {
            Ok(text) => escape_json(text, &mut line),
            Err(_) => escape_json(&String::from_utf8_lossy(&self.partial[stream]), &mut line),
        }
        line.extend_from_slice(b"\",\"stream\":\"");
        line.extend_from_slice(if stream == 0 { b"stdout" } else { b"stderr" });
        line.extend_from_slice(b"\",\"time\":\"");
        line.extend_from_slice(
            self.now
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
                .as_bytes(),
        );
        line.extend_from_slice(b"\"}\n");
        self.partial[stream].clear();
        // Logging must never stop the container: a full disk loses log lines only.
        if let Err(e) = self.file.write_all(&line) {
            tracing::warn!("container log: {e}");
        }
    }
}

/// Appends `text` as the inside of a JSON string.
fn escape_json(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-f`: keep printing new output until the container stops.
    pub follow: bool,
    /// `--tail N`: only the last N lines (None: all).
    pub tail: Option<usize>,
    /// `-t`: prefix each line with its time.
    pub timestamps: bool,
}

/// Prints the log of `query` to `out` (stdout entries) and `err` (stderr entries).
pub fn logs(
    containers: &ContainerStore,
    query: &str,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let c = containers.find(query)?;
    let path = c.log_path(containers.store());
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !opts.follow {
                return Ok(());
            }
            wait_for_log(containers, &c, &path)?
        }
        Err(e) => return Err(ContainerError::Io(format!("open {}", path.display()), e)),
    };
    let mut reader = BufReader::new(file);
    let print = |line: &str, out: &mut dyn Write, err: &mut dyn Write| -> Result<()> {
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            return Ok(());
        };
        let w: &mut dyn Write = if entry.stream == "stderr" { err } else { out };
        if opts.timestamps {
            write!(
                w,
                "{} ",
                entry.time.to_rfc3339_opts(SecondsFormat::Nanos, true)
            )
            .map_err(ContainerError::io("write the log"))?;
        }
        w.write_all(entry.log.as_bytes())
            .map_err(ContainerError::io("write the log"))?;
        Ok(())
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut pending = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(ContainerError::io(format!("read {}", path.display())))?;
        if n == 0 {
            break;
        }
        lines.push(std::mem::take(&mut line));
    }
    // A last line without its newline is being written: keep it for later.
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        pending = lines.pop().unwrap_or_default();
    }
    let skip = opts.tail.map_or(0, |t| lines.len().saturating_sub(t));
    for l in &lines[skip..] {
        print(l, out, err)?;
    }
    out.flush().ok();
    err.flush().ok();
    if !opts.follow {
        return Ok(());
    }
    let id = *c.id();
    loop {
        // Read what is there, then check whether the container still runs: output written
        // before it stopped is read on the next pass.
        let running = containers.monitor_alive(&id).unwrap_or(false);
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(ContainerError::io(format!("read {}", path.display())))?;
            if n == 0 {
                break;
            }
            pending.push_str(&line);
            if pending.ends_with('\n') {
                print(&pending, out, err)?;
                pending.clear();
            }
        }
        out.flush().ok();
        err.flush().ok();
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        // Removed (--rm) while following: the open file still ends cleanly.
        let _ = reader
            .stream_position()
            .map(|p| reader.seek(SeekFrom::Start(p)));
    }
}

fn wait_for_log(containers: &ContainerStore, c: &Container, path: &Path) -> Result<File> {
    loop {
        if let Ok(f) = File::open(path) {
            return Ok(f);
        }
        if !containers.monitor_alive(c.id())? && !path.exists() {
            return File::open("/dev/null").map_err(ContainerError::io("open /dev/null"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_per_stream_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(0, b"hello\nwor");
        w.write(1, b"oops\n");
        w.write(0, b"ld\n");
        w.write(1, b"q\"uote\\ \x01\t\r\xff\n");
        w.write(0, b"end");
        w.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("stdout", "hello\n"),
                ("stderr", "oops\n"),
                ("stdout", "world\n"),
                ("stderr", "q\"uote\\ \u{1}\t\r\u{fffd}\n"),
                ("stdout", "end")
            ]
        );
    }
}
