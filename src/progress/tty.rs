//! BuildKit's live display: a header with the build's timer and step count, one line per
//! step with its timer (`CACHED`/`ERROR` marked), the last output lines of running steps
//! under them (`=> => # ...`), finished steps collapsed to their line and dropped from the
//! top when the terminal is too short; redrawn in place ten times a second with ANSI
//! cursor movement. [`TtyState::frame`] is a pure function of the events, so it is tested
//! without a terminal.

use super::Outcome;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_builder::solver::{Event, Progress};

/// Output lines shown under a running step.
const SHOWN_LOGS: usize = 6;
/// Output lines kept per step (shown in full when the step fails).
const KEPT_LOGS: usize = 30;

struct StepView {
    id: usize,
    name: String,
    started: Instant,
    ended: Option<Instant>,
    cached: bool,
    error: bool,
    logs: VecDeque<String>,
}

/// Everything the display knows, from the events.
pub struct TtyState {
    start: Instant,
    steps: Vec<StepView>,
    warnings: Vec<String>,
    finished: Option<Instant>,
    export: Option<(String, Vec<String>)>,
}

/// The lines of one frame, each shorter than the terminal is wide.
pub type Frame = Vec<String>;

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `left` and `right` on one line of `width` columns, `left` cut to fit.
fn fit(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(right.chars().count() + 1).max(1);
    let mut left: String = left.chars().filter(|c| !c.is_control()).collect();
    if left.chars().count() > room {
        left = left
            .chars()
            .take(room.saturating_sub(1))
            .collect::<String>()
            + "…";
    }
    let pad = width.saturating_sub(left.chars().count() + right.chars().count() + 1);
    format!("{left}{}{right}", " ".repeat(pad + 1))
        .chars()
        .take(width)
        .collect()
}

fn cut(line: &str, width: usize) -> String {
    line.chars()
        .filter(|c| !c.is_control())
        .take(width)
        .collect()
}

impl TtyState {
    /// A build that started at `start`.
    pub fn new(start: Instant) -> TtyState {
        TtyState {
            start,
            steps: Vec::new(),
            warnings: Vec::new(),
            finished: None,
            export: None,
        }
    }

    fn step(&mut self, id: usize) -> Option<&mut StepView> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// Takes in one event that happened at `at`.
    pub fn apply(&mut self, event: Event, at: Instant) {
        match event {
            Event::Step { id, name } => self.steps.push(StepView {
                id,
                name,
                started: at,
                ended: None,
                cached: false,
                error: false,
                logs: VecDeque::new(),
            }),
            Event::Cached { id } => {
                if let Some(s) = self.step(id) {
                    s.cached = true;
                    s.ended = Some(at);
                }
            }
            Event::Done { id, .. } => {
                if let Some(s) = self.step(id) {
                    s.ended = Some(at);
                }
            }
            Event::Error { id, .. } => {
                if let Some(s) = self.step(id) {
                    s.error = true;
                    s.ended = Some(at);
                }
            }
            Event::Output { id, line } | Event::Explain { id, reason: line } => {
                if let Some(s) = self.step(id) {
                    if s.logs.len() == KEPT_LOGS {
                        s.logs.pop_front();
                    }
                    s.logs.push_back(line);
                }
            }
            Event::Warning(text) => self.warnings.push(text.trim_end().to_string()),
        }
    }

    /// The build ended at `at`: with the image ID and names, or failed.
    pub fn finish(&mut self, at: Instant, export: Option<(String, Vec<String>)>) {
        self.finished = Some(at);
        self.export = export;
    }

    /// The frame at `now` for a terminal of `width` x `height`.
    pub fn frame(&self, now: Instant, width: usize, height: usize) -> Frame {
        let width = width.max(20);
        let end = self.finished.unwrap_or(now);
        let done = self.steps.iter().filter(|s| s.ended.is_some()).count();
        let mut header = format!(
            "[+] Building {} ({done}/{})",
            seconds(end - self.start),
            self.steps.len()
        );
        if self.finished.is_some() && self.export.is_some() {
            header.push_str(" FINISHED");
        }
        // Blocks of lines, one per step; finished blocks can be dropped to fit.
        let mut blocks: Vec<(bool, Vec<String>)> = Vec::new();
        for s in &self.steps {
            let took = s.ended.unwrap_or(end) - s.started;
            let mark = if s.cached {
                "CACHED "
            } else if s.error {
                "ERROR "
            } else {
                ""
            };
            let mut lines = vec![fit(
                &format!(" => {mark}{}", s.name),
                &seconds(if s.cached { Duration::ZERO } else { took }),
                width,
            )];
            let running = s.ended.is_none();
            if running || s.error {
                let shown = if s.error { KEPT_LOGS } else { SHOWN_LOGS };
                let skip = s.logs.len().saturating_sub(shown);
                for line in s.logs.iter().skip(skip) {
                    lines.push(cut(&format!(" => => # {line}"), width));
                }
            }
            blocks.push((!running && !s.error, lines));
        }
        if let Some((id, tags)) = &self.export {
            let mut lines = vec![
                fit(" => exporting to image", "0.0s", width),
                fit(&format!(" => => writing image {id}"), "0.0s", width),
            ];
            for tag in tags {
                lines.push(fit(&format!(" => => naming to {tag}"), "0.0s", width));
            }
            blocks.push((false, lines));
        }
        // Collapse: drop the oldest finished steps while the frame is taller than the
        // terminal (one line is kept free for the cursor).
        let room = height.saturating_sub(2).max(1);
        let mut total: usize = blocks.iter().map(|(_, l)| l.len()).sum();
        let mut keep = vec![true; blocks.len()];
        for (i, (finished, lines)) in blocks.iter().enumerate() {
            if total <= room {
                break;
            }
            if *finished {
                keep[i] = false;
                total -= lines.len();
            }
        }
        let mut frame = vec![cut(&header, width)];
        for (i, (_, lines)) in blocks.into_iter().enumerate() {
            if keep[i] {
                frame.extend(lines);
            }
        }
        // Still too tall (many running steps): the newest lines matter most.
        if frame.len() > room + 1 {
            let excess = frame.len() - room - 1;
            frame.drain(1..1 + excess);
        }
        frame
    }

    /// What is printed once below the last frame: the failed steps' output and warnings.
    pub fn epilogue(&self) -> String {
        let mut out = String::new();
        for s in self.steps.iter().filter(|s| s.error) {
            out.push_str(&format!("------\n > {}:\n", s.name));
            for line in &s.logs {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("------\n");
        }
        for w in &self.warnings {
            out.push_str(w);
            out.push('\n');
        }
        out
    }
}

/// The terminal's size from stderr; `$COLUMNS`/`$LINES` or 80x24 when it has none.
fn terminal_size() -> (usize, usize) {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .unwrap_or(default)
    };
    match rustix::termios::tcgetwinsize(std::io::stderr()) {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => (ws.ws_col as usize, ws.ws_row as usize),
        _ => (env("COLUMNS", 80), env("LINES", 24)),
    }
}

/// Redraws `frame` over the `drawn` lines of the previous one.
fn redraw(frame: &Frame, drawn: &mut usize) {
    let mut buf = String::new();
    if *drawn > 0 {
        buf.push_str(&format!("\x1b[{}A", *drawn));
    }
    buf.push('\r');
    for line in frame {
        buf.push_str("\x1b[2K");
        buf.push_str(line);
        buf.push('\n');
    }
    // A shorter frame than the last one: clear what is left below.
    buf.push_str("\x1b[J");
    *drawn = frame.len();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(buf.as_bytes());
    let _ = err.flush();
}

struct Shared {
    state: Mutex<TtyState>,
    drawn: Mutex<usize>,
    stop: AtomicBool,
}

impl Shared {
    fn draw(&self) {
        let (width, height) = terminal_size();
        let frame = self.state.lock().unwrap_or_else(|e| e.into_inner()).frame(
            Instant::now(),
            width.saturating_sub(1),
            height,
        );
        redraw(
            &frame,
            &mut self.drawn.lock().unwrap_or_else(|e| e.into_inner()),
        );
    }
}

/// The live display: events update the state, a ticker thread redraws it.
pub struct Tty {
    shared: Arc<Shared>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Tty {
    /// Starts the clock and the redrawing.
    pub fn start() -> Tty {
        let shared = Arc::new(Shared {
            state: Mutex::new(TtyState::new(Instant::now())),
            drawn: Mutex::new(0),
            stop: AtomicBool::new(false),
        });
        let ticker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    shared.draw();
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Tty {
            shared,
            ticker: Mutex::new(Some(ticker)),
        }
    }

    /// Stops redrawing and leaves the final frame, then the failed steps' output.
    pub fn finish(&self, outcome: &Outcome<'_>) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        let export = match outcome {
            Outcome::Built { id, tags } => Some((id.to_string(), tags.to_vec())),
            Outcome::Failed(_) => None,
        };
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish(Instant::now(), export);
        self.shared.draw();
        let epilogue = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .epilogue();
        let _ = std::io::stderr().lock().write_all(epilogue.as_bytes());
    }
}

impl Progress for Tty {
    fn event(&self, event: Event) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply(event, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    fn step(id: usize, name: &str) -> Event {
        Event::Step {
            id,
            name: name.into(),
        }
    }

    fn out(id: usize, line: &str) -> Event {
        Event::Output {
            id,
            line: line.into(),
        }
    }

    #[test]
    fn running_steps_show_their_last_lines_finished_ones_collapse() {
        let t0 = Instant::now();
        let mut s = TtyState::new(t0);
        s.apply(step(1, "[stage-0 2/3] COPY a /a"), at(t0, 0));
        s.apply(Event::Cached { id: 1 }, at(t0, 10));
        s.apply(step(2, "[stage-0 3/3] RUN make"), at(t0, 10));
        for i in 0..8 {
            s.apply(out(2, &format!("line {i}")), at(t0, 20 + i));
        }
        let frame = s.frame(at(t0, 1510), 40, 30);
        assert_eq!(
            frame,
            vec![
                "[+] Building 1.5s (1/2)",
                " => CACHED [stage-0 2/3] COPY a /a  0.0s",
                " => [stage-0 3/3] RUN make          1.5s",
                " => => # line 2",
                " => => # line 3",
                " => => # line 4",
                " => => # line 5",
                " => => # line 6",
                " => => # line 7",
            ]
        );
        s.apply(
            Event::Done {
                id: 2,
                seconds: 2.0,
            },
            at(t0, 2010),
        );
        s.finish(
            at(t0, 2100),
            Some(("sha256:abcd".into(), vec!["docker.io/library/x:1".into()])),
        );
        let frame = s.frame(at(t0, 9000), 50, 30);
        assert_eq!(
            frame,
            vec![
                "[+] Building 2.1s (2/2) FINISHED",
                " => CACHED [stage-0 2/3] COPY a /a            0.0s",
                " => [stage-0 3/3] RUN make                    2.0s",
                " => exporting to image                        0.0s",
                " => => writing image sha256:abcd              0.0s",
                " => => naming to docker.io/library/x:1        0.0s",
            ]
        );
        assert!(s.epilogue().is_empty());
    }

    #[test]
    fn short_terminals_drop_finished_steps_first_and_long_names_are_cut() {
        let t0 = Instant::now();
        let mut s = TtyState::new(t0);
        for id in 1..=5 {
            s.apply(
                step(id, &format!("[s {id}/6] RUN step number {id}")),
                at(t0, 0),
            );
            s.apply(Event::Done { id, seconds: 0.1 }, at(t0, 100));
        }
        s.apply(
            step(6, "[s 6/6] RUN a-very-long-command-line-that-does-not-fit"),
            at(t0, 100),
        );
        s.apply(out(6, "working"), at(t0, 200));
        // Six rows: the header and four lines, one row left for the cursor.
        let frame = s.frame(at(t0, 300), 30, 6);
        assert_eq!(
            frame,
            vec![
                "[+] Building 0.3s (5/6)",
                " => [s 4/6] RUN step num… 0.1s",
                " => [s 5/6] RUN step num… 0.1s",
                " => [s 6/6] RUN a-very-l… 0.2s",
                " => => # working",
            ]
        );
        assert!(frame.iter().all(|l| l.chars().count() <= 30));
    }

    #[test]
    fn a_failed_step_keeps_its_output() {
        let t0 = Instant::now();
        let mut s = TtyState::new(t0);
        s.apply(step(1, "[stage-0 2/2] RUN false"), at(t0, 0));
        s.apply(out(1, "about to fail"), at(t0, 10));
        s.apply(
            Event::Error {
                id: 1,
                message: "exit code: 1".into(),
            },
            at(t0, 20),
        );
        s.apply(Event::Warning("a lint warning\n".into()), at(t0, 20));
        s.finish(at(t0, 30), None);
        let frame = s.frame(at(t0, 40), 40, 20);
        assert_eq!(
            frame,
            vec![
                "[+] Building 0.0s (1/1)",
                " => ERROR [stage-0 2/2] RUN false   0.0s",
                " => => # about to fail",
            ]
        );
        assert_eq!(
            s.epilogue(),
            "------\n > [stage-0 2/2] RUN false:\nabout to fail\n------\na lint warning\n"
        );
    }
}
