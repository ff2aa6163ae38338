//! Per-layer progress of `pull` and `push` on stdout, in the `--progress` style:
//!
//! - tty: docker's live display, one line per layer redrawn in place (status, a bar, bytes,
//!   rate), at most ten times a second;
//! - plain: one line per layer event (status changes; while bytes move, at most one line per
//!   layer a second);
//! - json: one object per event, docker's `jsonmessage` fields (`status`, `id`,
//!   `progressDetail`) plus the rate in bytes a second;
//! - quiet: nothing.
//!
//! Events carry layer IDs, statuses, byte counts and repository names only: never a
//! credential.

use crate::cli::Progress as Mode;
use crate::output::human_size;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a transfer's byte count may be shown again.
const TTY_EVERY: Duration = Duration::from_millis(100);
const PLAIN_EVERY: Duration = Duration::from_secs(1);
const JSON_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Tty,
    Plain,
    Json,
    Quiet,
}

struct Layer {
    id: String,
    status: String,
    current: u64,
    total: Option<u64>,
    started: Option<Instant>,
    shown: Option<Instant>,
}

impl Layer {
    /// Bytes a second since the transfer started.
    fn rate(&self) -> Option<f64> {
        let secs = self.started?.elapsed().as_secs_f64();
        (secs > 0.05 && self.current > 0).then(|| self.current as f64 / secs)
    }

    fn line(&self) -> String {
        let mut line = format!("{}: {}", self.id, self.status);
        if let Some(total) = self.total.filter(|_| self.started.is_some()) {
            let width = 50usize;
            let done = if total == 0 {
                width
            } else {
                ((self.current.min(total) as f64 / total as f64) * width as f64) as usize
            };
            let bar = if done >= width {
                "=".repeat(width)
            } else {
                format!("{}>{}", "=".repeat(done), " ".repeat(width - done - 1))
            };
            line.push_str(&format!(
                " [{bar}] {}/{}",
                human_size(self.current),
                human_size(total)
            ));
            if let Some(rate) = self.rate() {
                line.push_str(&format!(" {}/s", human_size(rate as u64)));
            }
        } else if self.started.is_some() && self.current > 0 {
            line.push_str(&format!(" {}", human_size(self.current)));
        }
        line
    }
}

struct State {
    layers: Vec<Layer>,
    /// Lines of the live display on screen (tty).
    drawn: usize,
    last_draw: Option<Instant>,
}

/// The progress display of one pull or push; shared by the transfer threads.
pub struct Transfers {
    style: Style,
    stderr: bool,
    state: Mutex<State>,
}

impl Transfers {
    /// The display `--progress` asks for; `quiet` (`-q`) silences it.
    pub fn new(mode: Mode, quiet: bool) -> Transfers {
        let style = match mode {
            _ if quiet => Style::Quiet,
            Mode::Quiet => Style::Quiet,
            Mode::Json => Style::Json,
            Mode::Plain => Style::Plain,
            Mode::Tty => Style::Tty,
            Mode::Auto if std::io::stdout().is_terminal() => Style::Tty,
            Mode::Auto => Style::Plain,
        };
        Transfers {
            style,
            stderr: false,
            state: Mutex::new(State {
                layers: Vec::new(),
                drawn: 0,
                last_draw: None,
            }),
        }
    }

    /// The same display on stderr (for `build`, whose stdout is the image ID with `-q`).
    pub fn on_stderr(mut self) -> Transfers {
        self.stderr = true;
        if self.style == Style::Tty && !std::io::stderr().is_terminal() {
            self.style = Style::Plain;
        }
        self
    }

    /// True when nothing is shown.
    pub fn quiet(&self) -> bool {
        self.style == Style::Quiet
    }

    /// True for `--progress json`.
    pub fn json(&self) -> bool {
        self.style == Style::Json
    }

    /// A line that belongs to no layer ("The push refers to repository [...]").
    pub fn message(&self, text: &str) {
        self.message_with(text, None);
    }

    /// A message with docker's `aux` object in json (e.g. the pushed tag's digest and size).
    pub fn message_with(&self, text: &str, aux: Option<serde_json::Value>) {
        let mut state = self.state.lock().expect("progress state");
        match self.style {
            Style::Quiet => {}
            Style::Json => {
                let mut event = serde_json::json!({ "status": text });
                if let Some(aux) = aux {
                    event["aux"] = aux;
                }
                self.emit(&event.to_string());
            }
            Style::Plain => self.emit(text),
            Style::Tty => {
                // Above the live lines, which are drawn again below it.
                let mut out = self.out();
                if state.drawn > 0 {
                    let _ = write!(out, "\x1b[{}A", state.drawn);
                }
                let _ = writeln!(out, "\x1b[2K{text}");
                state.drawn = 0;
                drop(out);
                self.draw(&mut state);
            }
        }
    }

    /// A layer's status changed ("Pushing", "Pushed", "Already exists", ...).
    pub fn status(&self, id: &str, status: &str) {
        let mut state = self.state.lock().expect("progress state");
        let layer = layer(&mut state, id);
        layer.status = status.to_string();
        // A status ends the transfer shown before it.
        layer.started = None;
        let (current, total) = (layer.current, layer.total);
        self.show(&mut state, id, true, current, total);
    }

    /// Bytes of a layer moved: `current` of `total` so far, under `status` ("Downloading").
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: Option<u64>) {
        let mut state = self.state.lock().expect("progress state");
        let layer = layer(&mut state, id);
        let changed = layer.status != status;
        if changed || layer.started.is_none() {
            layer.status = status.to_string();
            layer.started = Some(Instant::now());
            layer.shown = None;
        }
        layer.current = current;
        layer.total = total;
        self.show(&mut state, id, changed, current, total);
    }

    fn show(&self, state: &mut State, id: &str, event: bool, current: u64, total: Option<u64>) {
        let every = match self.style {
            Style::Quiet => return,
            Style::Tty => TTY_EVERY,
            Style::Plain => PLAIN_EVERY,
            Style::Json => JSON_EVERY,
        };
        if self.style == Style::Tty {
            let due = state.last_draw.is_none_or(|t| t.elapsed() >= every);
            if event || due {
                self.draw(state);
            }
            return;
        }
        let layer = layer(state, id);
        // Plain and json: byte counts only once per interval, and not before the first
        // interval has passed (small blobs need no progress lines).
        let moving = layer.started.is_some() && !event;
        if moving {
            let since = layer.shown.or(layer.started).expect("started");
            if since.elapsed() < every {
                return;
            }
        }
        layer.shown = Some(Instant::now());
        if self.style == Style::Plain {
            self.emit(&layer.line());
            return;
        }
        let mut value = serde_json::json!({ "status": layer.status, "id": layer.id });
        if moving || layer.started.is_some() && total.is_some() {
            let mut detail = serde_json::json!({ "current": current });
            if let Some(total) = total {
                detail["total"] = total.into();
            }
            value["progressDetail"] = detail;
            if let Some(rate) = layer.rate() {
                value["rate"] = (rate as u64).into();
            }
        } else {
            value["progressDetail"] = serde_json::json!({});
        }
        self.emit(&value.to_string());
    }

    fn out(&self) -> Box<dyn Write + '_> {
        if self.stderr {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        }
    }

    fn emit(&self, line: &str) {
        let mut out = self.out();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Redraws the live lines (tty).
    fn draw(&self, state: &mut State) {
        let mut out = self.out();
        if state.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", state.drawn);
        }
        for layer in &state.layers {
            let _ = writeln!(out, "\x1b[2K{}", layer.line());
        }
        let _ = out.flush();
        state.drawn = state.layers.len();
        state.last_draw = Some(Instant::now());
    }
}

fn layer<'a>(state: &'a mut State, id: &str) -> &'a mut Layer {
    let at = match state.layers.iter().position(|l| l.id == id) {
        Some(at) => at,
        None => {
            state.layers.push(Layer {
                id: id.to_string(),
                status: String::new(),
                current: 0,
                total: None,
                started: None,
                shown: None,
            });
            state.layers.len() - 1
        }
    };
    &mut state.layers[at]
}

/// A reader that reports its position (bytes read from the start, seeks included).
pub struct Tracked<R, F: Fn(u64)> {
    inner: R,
    position: u64,
    report: F,
}

impl<R, F: Fn(u64)> Tracked<R, F> {
    /// Wraps `inner`, which stands at offset 0.
    pub fn new(inner: R, report: F) -> Tracked<R, F> {
        Tracked {
            inner,
            position: 0,
            report,
        }
    }
}

impl<R: std::io::Read, F: Fn(u64)> std::io::Read for Tracked<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        (self.report)(self.position);
        Ok(n)
    }
}

impl<R: std::io::Seek, F: Fn(u64)> std::io::Seek for Tracked<R, F> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.position = self.inner.seek(pos)?;
        (self.report)(self.position);
        Ok(self.position)
    }
}

impl<W: std::io::Write, F: Fn(u64)> std::io::Write for Tracked<W, F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.position += n as u64;
        (self.report)(self.position);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_bar_bytes_and_rate() {
        let mut layer = Layer {
            id: "0123456789ab".into(),
            status: "Pushing".into(),
            current: 500_000,
            total: Some(1_000_000),
            started: Some(Instant::now() - Duration::from_secs(1)),
            shown: None,
        };
        let line = layer.line();
        assert!(
            line.starts_with("0123456789ab: Pushing [=========================>"),
            "{line}"
        );
        assert!(line.contains("] 500kB/1MB "), "{line}");
        assert!(line.ends_with("kB/s"), "{line}");
        layer.started = None;
        assert_eq!(layer.line(), "0123456789ab: Pushing");
    }
}
