//! Build progress: the events the solver emits. Showing them (plain lines, a live terminal
//! display, JSON) is the binary's business: this crate prints nothing.

use std::io::Write;

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
