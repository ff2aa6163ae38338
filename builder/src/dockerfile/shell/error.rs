//! Expansion errors, worded as BuildKit words them.

use std::fmt::Write as _;

use unicode_general_category::{get_general_category, GeneralCategory};

/// A word could not be expanded. Displays as BuildKit does:
/// `failed to process "<word>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {kind}", go_quote(.word))]
pub struct ExpandError {
    /// The whole word that was being expanded.
    pub word: String,
    /// What went wrong.
    pub kind: ExpandErrorKind,
}

/// The reason an expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// A `'` was never closed.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// A `"` was never closed.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// The input ended inside a `${...}` part that is terminated by `expected`. The callers
    /// report this as [`MissingBrace`](Self::MissingBrace) or
    /// [`MissingSlash`](Self::MissingSlash), as BuildKit does.
    #[error("unexpected end of statement while looking for matching {expected}")]
    UnexpectedEnd {
        /// The character that would have closed the part.
        expected: char,
    },
    /// The input ended inside `${...`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// The input ended inside the pattern of `${V/pattern/replacement}`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${{...`, `${:...` and the like.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${V<op>...}` with an operator BuildKit does not know, e.g. `${V:=w}` or `${V:#p}`.
    /// The modifier is shown as written; a U+FFFD stands for the end of the input.
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The operator characters, e.g. `:=`.
        modifier: String,
    },
    /// `${V?msg}` with `V` unset, or `${V:?msg}` with `V` unset or empty.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The expanded `msg`, or BuildKit's default text when it is empty.
        message: String,
    },
    /// The pattern of a `#`, `%` or `/` operator is invalid.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern as BuildKit reports it (reversed for `%` and `%%`, as BuildKit
        /// matches suffixes by reversing both sides).
        pattern: String,
        /// Why it is invalid.
        reason: PatternError,
    },
}

/// Why a shell pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `\` followed by anything but `*`, `?`, `\`, `}` or `/` (U+FFFD: end of pattern).
    #[error("invalid escape '\\{0}'")]
    InvalidEscape(char),
}

/// Quotes `s` like Go's `strconv.Quote`, which BuildKit's messages use (`%q`).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if c < ' ' || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            _ if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
fn go_is_print(c: char) -> bool {
    use GeneralCategory as G;
    c == ' '
        || !matches!(
            get_general_category(c),
            G::Control
                | G::Format
                | G::Surrogate
                | G::PrivateUse
                | G::Unassigned
                | G::SpaceSeparator
                | G::LineSeparator
                | G::ParagraphSeparator
        )
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\t\n\u{1}\u{7f}"), r#""\t\n\x01\x7f""#);
        assert_eq!(go_quote("안녕 \u{a0}\u{e000}"), "\"안녕 \\u00a0\\ue000\"");
        assert_eq!(go_quote("\u{f0000}"), "\"\\U000f0000\"");
    }
}
