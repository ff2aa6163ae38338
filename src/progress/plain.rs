//! BuildKit's plain format: `#3 [2/4] RUN make`, `#3 0.512 output`, `#3 CACHED`,
//! `#3 DONE 0.4s`, then the export summary (without a `DONE` line of its own, so `DONE`
//! counts the steps that ran).

use super::Outcome;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;
use strata_builder::solver::{Event, Progress};

/// Plain lines on stderr.
pub struct Plain {
    start: Instant,
    last_id: Mutex<usize>,
}

impl Plain {
    /// Starts the clock.
    pub fn new() -> Plain {
        Plain {
            start: Instant::now(),
            last_id: Mutex::new(0),
        }
    }

    /// `#N exporting to image` with the image ID and names.
    pub fn finish(&self, outcome: &Outcome<'_>) {
        let Outcome::Built { id, tags } = outcome else {
            return;
        };
        let n = *self.last_id.lock().unwrap_or_else(|e| e.into_inner()) + 1;
        let mut text = format!("#{n} exporting to image\n#{n} writing image {id} done\n");
        for tag in *tags {
            text.push_str(&format!("#{n} naming to {tag} done\n"));
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl Progress for Plain {
    fn event(&self, event: Event) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let text = match &event {
            Event::Step { id, name } => {
                let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
                *last = (*last).max(*id);
                format!("#{id} {name}\n")
            }
            Event::Cached { id } => format!("#{id} CACHED\n"),
            Event::Done { id, seconds } => format!("#{id} DONE {seconds:.1}s\n"),
            Event::Output { id, line } => format!("#{id} {elapsed:.3} {line}\n"),
            Event::Warning(text) => format!("{}\n", text.trim_end()),
            Event::Explain { id, reason } => format!("#{id} cache miss: {reason}\n"),
            Event::Error { id, message } => format!("#{id} ERROR: {message}\n"),
        };
        // One write per event: lines of parallel stages never interleave mid-line.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
