//! How `strata build` shows its progress on stderr: BuildKit's `plain` lines, a live `tty`
//! display redrawn in place, or one JSON object per event for CI. The solver only emits
//! [`Event`]s (strata-builder knows nothing of terminals); everything drawn is here.

mod json;
mod plain;
mod tty;

use crate::cli::Progress as Mode;
use std::io::IsTerminal;
use strata_builder::solver::{Event, Progress};

/// The end of a build as the display reports it.
pub enum Outcome<'a> {
    /// The image was written (and tagged).
    Built {
        /// Its ID.
        id: &'a str,
        /// The names it got.
        tags: &'a [String],
    },
    /// The build failed.
    Failed(&'a str),
}

/// The build's progress display.
pub enum Display {
    /// Nothing (`-q`, `--progress=quiet`).
    Quiet,
    /// One line per event.
    Plain(plain::Plain),
    /// One JSON object per event.
    Json(json::Json),
    /// Redrawn in place.
    Tty(tty::Tty),
}

impl Display {
    /// The display for `mode`; `auto` is `tty` when stderr is a terminal, `plain` otherwise.
    pub fn new(mode: Mode, quiet: bool) -> Display {
        if quiet {
            return Display::Quiet;
        }
        match mode {
            Mode::Quiet => Display::Quiet,
            Mode::Plain => Display::Plain(plain::Plain::new()),
            Mode::Json => Display::Json(json::Json::new()),
            Mode::Tty => Display::Tty(tty::Tty::start()),
            Mode::Auto if std::io::stderr().is_terminal() => Display::Tty(tty::Tty::start()),
            Mode::Auto => Display::Plain(plain::Plain::new()),
        }
    }

    /// Shows the outcome (the summary with the image ID, or the failure) and stops any
    /// redrawing.
    pub fn finish(&self, outcome: Outcome<'_>) {
        match self {
            Display::Quiet => {}
            Display::Plain(p) => p.finish(&outcome),
            Display::Json(j) => j.finish(&outcome),
            Display::Tty(t) => t.finish(&outcome),
        }
    }
}

impl Progress for Display {
    fn event(&self, event: Event) {
        match self {
            Display::Quiet => {}
            Display::Plain(p) => p.event(event),
            Display::Json(j) => j.event(event),
            Display::Tty(t) => t.event(event),
        }
    }
}
