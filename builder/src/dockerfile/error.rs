//! Errors of the Dockerfile front end, with their source location.
//!
//! [`ParseError`] is shared by the parser and the instruction layer built on its AST, so
//! that every front-end error renders the same way: `Dockerfile:7: message`, the quoted
//! source line and a caret.

use super::dump::go_quote;

/// What went wrong; the `Display` text is BuildKit's message where BuildKit has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The file holds no instruction (empty, or only comments and blank lines).
    #[error("file with no instructions")]
    NoInstructions,
    /// A line longer than BuildKit's scanner accepts.
    #[error("dockerfile line greater than max allowed size of 65535")]
    LineTooLong,
    /// A parser directive given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// An `# escape=` value other than `\` or `` ` ``.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscapeToken(String),
    /// A heredoc whose terminator line never came.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// ENV or LABEL in the `KEY value` form without a value (the field is the keyword).
    #[error("{0} must have two arguments")]
    MissingValue(String),
    /// ENV or LABEL in the `k=v` form with a word lacking `=`.
    #[error(
        "Syntax error - can't find = in {}. Must be of the form: name=value",
        go_quote(.0)
    )]
    MissingEquals(String),
    /// A JSON array whose elements are not all strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// A heredoc delimiter the shell lexer could not process.
    #[error("failed to process {}: {}", go_quote(.word), .reason)]
    HeredocWord {
        /// The delimiter text.
        word: String,
        /// The lexer's complaint.
        reason: String,
    },
    /// An instruction keyword that is not a Dockerfile instruction.
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    /// Any other message (for the layers built on the AST).
    #[error("{0}")]
    Other(String),
}

/// A front-end error with its location: 1-based lines, and a 1-based column when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// First line concerned (1-based); 0 when the error concerns no line (an empty file).
    pub line: usize,
    /// Last line concerned, `>= line`.
    pub end_line: usize,
    /// 1-based column (in characters) on `line`, when known.
    pub column: Option<usize>,
}

impl ParseError {
    /// An error on one line, column unknown.
    pub fn new(kind: ParseErrorKind, line: usize) -> Self {
        Self {
            kind,
            line,
            end_line: line,
            column: None,
        }
    }

    /// An error spanning `line..=end_line`.
    pub fn spanning(kind: ParseErrorKind, line: usize, end_line: usize) -> Self {
        Self {
            kind,
            line,
            end_line: end_line.max(line),
            column: None,
        }
    }

    /// The same error pointing at a 1-based column.
    pub fn with_column(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }

    /// Renders the error as `FILE:LINE: message`, then the source line and a caret under
    /// the column (under the line's first non-blank character when the column is unknown).
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let mut out = if self.line == 0 {
            format!("{file_name}: {}\n", self.kind)
        } else {
            format!("{file_name}:{}: {}\n", self.line, self.kind)
        };
        let Some(text) = source_line(source, self.line) else {
            return out;
        };
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let col = self
            .column
            .unwrap_or_else(|| text.chars().take_while(|c| c.is_whitespace()).count() + 1);
        // Tabs are kept under tabs so the caret lines up in a terminal.
        let lead: String = text
            .chars()
            .take(col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!(" {number} | {text}\n {pad} | {lead}^\n"));
        out
    }
}

/// The 1-based `line` of `source` without its line terminator, BOM or carriage return.
fn source_line(source: &str, line: usize) -> Option<&str> {
    if line == 0 {
        return None;
    }
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let text = source.split('\n').nth(line - 1)?;
    Some(text.strip_suffix('\r').unwrap_or(text))
}
