//! The front end's error type and BuildKit's "did you mean" suggestions.

use std::fmt;

/// An inclusive range of 1-based source lines an error or warning points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineRange {
    /// First line (1-based).
    pub start: usize,
    /// Last line (1-based, inclusive).
    pub end: usize,
}

impl LineRange {
    /// A range covering `start..=end` (a reversed pair collapses to `start`).
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }
}

/// An error of the front end past parsing: a BuildKit message plus the lines it points at.
///
/// BuildKit attaches several locations to some errors (a dependency cycle names every
/// instruction on it); the first one is the primary location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FrontendError {
    /// The message, worded as BuildKit words it (without a file or line prefix).
    pub message: String,
    /// The source lines the error points at, primary first; empty when it has no location.
    pub locations: Vec<LineRange>,
}

impl fmt::Display for FrontendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::dockerfile::error::ParseError> for FrontendError {
    fn from(e: crate::dockerfile::error::ParseError) -> Self {
        Self {
            message: e.kind.to_string(),
            locations: if e.line == 0 {
                Vec::new()
            } else {
                vec![LineRange::new(e.line, e.end_line)]
            },
        }
    }
}

impl FrontendError {
    /// An error without a location.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            locations: Vec::new(),
        }
    }

    /// An error at `start..=end`.
    pub fn at(message: impl Into<String>, start: usize, end: usize) -> Self {
        Self {
            message: message.into(),
            locations: vec![LineRange::new(start, end)],
        }
    }

    /// Adds a location unless the error already has one (BuildKit keeps the innermost).
    pub fn located(mut self, start: usize, end: usize) -> Self {
        if self.locations.is_empty() {
            self.locations.push(LineRange::new(start, end));
        }
        self
    }

    /// The first line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.locations.first().map(|r| r.start)
    }

    /// Renders the error as the parser renders its own: `FILE:LINE: message`, the quoted
    /// line and a caret.
    pub fn render(&self, source: &str, file_name: &str) -> String {
        let (start, end) = self
            .locations
            .first()
            .map(|r| (r.start, r.end))
            .unwrap_or((0, 0));
        crate::dockerfile::error::ParseError::spanning(
            crate::dockerfile::error::ParseErrorKind::Other(self.message.clone()),
            start,
            end,
        )
        .render(file_name, source)
    }
}

/// BuildKit's `suggest.Search`: the option closest to `val` by Levenshtein distance (< 3),
/// `None` on an exact match or when nothing is close.
///
/// BuildKit walks a Go map (random order) and keeps the first strictly-closer option; the
/// options are sorted here so that ties resolve the same way every time.
pub(crate) fn suggest(val: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let wanted = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut sorted: Vec<&str> = options.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in sorted {
        let cand = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if cand == wanted {
            return None;
        }
        let d = levenshtein(&wanted, &cand);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                cand
            } else {
                match_case(&cand, val)
            });
        }
    }
    best
}

/// `err (did you mean X?)` when a suggestion exists, as BuildKit's `suggest.WrapError`.
pub(crate) fn with_suggestion(msg: String, val: &str, options: &[&str], cs: bool) -> String {
    match suggest(val, options, cs) {
        Some(m) => format!("{msg} (did you mean {m}?)"),
        None => msg,
    }
}

fn match_case(val: &str, orig: &str) -> String {
    if orig == orig.to_lowercase() {
        val.to_lowercase()
    } else if orig == orig.to_uppercase() {
        val.to_uppercase()
    } else {
        val.to_string()
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_follow_buildkit_case_rules() {
        let names = ["RUN", "COPY", "FROM"];
        assert_eq!(suggest("RUNN", &names, false).as_deref(), Some("RUN"));
        assert_eq!(suggest("runn", &names, false).as_deref(), Some("run"));
        // Mixed case gets the lower-cased option, as BuildKit's matchCase.
        assert_eq!(suggest("Runn", &names, false).as_deref(), Some("run"));
        assert_eq!(suggest("run", &names, false), None);
        assert_eq!(suggest("xyzzy", &names, false), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
