//! Build progress: events from the solver, shown like BuildKit's plain output or as JSON.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Something that happened during a build.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step started: `#id [stage i/n] INSTRUCTION`.
    Step {
        /// The step's number in this build.
        id: usize,
        /// `[stage-name i/n] INSTRUCTION`.
        name: String,
    },
    /// The step was answered from the cache.
    Cached {
        /// The step.
        id: usize,
    },
    /// The step finished.
    Done {
        /// The step.
        id: usize,
        /// Seconds it took.
        seconds: f64,
    },
    /// One line a RUN printed.
    Output {
        /// The step.
        id: usize,
        /// The line, without its newline.
        line: String,
    },
    /// A warning (lint, unused build args).
    Warning(String),
    /// Why a step missed the cache (`--explain-cache`).
    Explain {
        /// The step.
        id: usize,
        /// The reason.
        reason: String,
    },
    /// A step failed.
    Error {
        /// The step.
        id: usize,
        /// The message.
        message: String,
    },
}

/// Receives the events of a build (from several threads).
pub trait Progress: Sync {
    /// Handles one event.
    fn event(&self, event: Event);
}

/// Prints nothing.
pub struct QuietProgress;

impl Progress for QuietProgress {
    fn event(&self, _event: Event) {}
}

/// BuildKit's plain format (`#3 [2/4] RUN make`, `#3 CACHED`, `#3 DONE 0.4s`), or one JSON
/// object per event, on stderr.
pub struct PlainProgress {
    json: bool,
    start: Instant,
    lock: Mutex<()>,
}

impl PlainProgress {
    /// Plain text (`json == false`) or JSON lines.
    pub fn new(json: bool) -> PlainProgress {
        PlainProgress {
            json,
            start: Instant::now(),
            lock: Mutex::new(()),
        }
    }
}

impl Progress for PlainProgress {
    fn event(&self, event: Event) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = self.start.elapsed().as_secs_f64();
        let text = if self.json {
            let value = match &event {
                Event::Step { id, name } => {
                    serde_json::json!({"type": "step", "id": id, "name": name, "time": elapsed})
                }
                Event::Cached { id } => {
                    serde_json::json!({"type": "cached", "id": id, "time": elapsed})
                }
                Event::Done { id, seconds } => {
                    serde_json::json!({"type": "done", "id": id, "seconds": seconds, "time": elapsed})
                }
                Event::Output { id, line } => {
                    serde_json::json!({"type": "output", "id": id, "line": line, "time": elapsed})
                }
                Event::Explain { id, reason } => {
                    serde_json::json!({"type": "cache-miss", "id": id, "reason": reason, "time": elapsed})
                }
                Event::Warning(text) => {
                    serde_json::json!({"type": "warning", "message": text, "time": elapsed})
                }
                Event::Error { id, message } => {
                    serde_json::json!({"type": "error", "id": id, "message": message, "time": elapsed})
                }
            };
            format!("{value}\n")
        } else {
            match &event {
                Event::Step { id, name } => format!("#{id} {name}\n"),
                Event::Cached { id } => format!("#{id} CACHED\n"),
                Event::Done { id, seconds } => format!("#{id} DONE {seconds:.1}s\n"),
                Event::Output { id, line } => format!("#{id} {elapsed:.3} {line}\n"),
                Event::Warning(text) => format!("{}\n", text.trim_end()),
                Event::Explain { id, reason } => format!("#{id} cache miss: {reason}\n"),
                Event::Error { id, message } => format!("#{id} ERROR: {message}\n"),
            }
        };
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Splits a step's output into lines for [`Event::Output`].
pub struct LineWriter<'a> {
    progress: &'a dyn Progress,
    id: usize,
    buf: Vec<u8>,
}

impl<'a> LineWriter<'a> {
    /// Output of step `id`.
    pub fn new(progress: &'a dyn Progress, id: usize) -> LineWriter<'a> {
        LineWriter {
            progress,
            id,
            buf: Vec::new(),
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line)
            .trim_end_matches('\r')
            .to_string();
        self.progress.event(Event::Output {
            id: self.id,
            line: text,
        });
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        // A process printing without newlines must not grow this without bound.
        if self.buf.len() > 64 * 1024 {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line);
        }
    }
}
