//! Expansion errors, worded as BuildKit words them.

use crate::dockerfile::dump::go_quote;

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

#[cfg(test)]
mod tests {
    use crate::dockerfile::dump::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\t\n\u{1}\u{7f}"), r#""\t\n\x01\x7f""#);
        assert_eq!(go_quote("안녕 \u{a0}\u{e000}"), "\"안녕 \\u00a0\\ue000\"");
        assert_eq!(go_quote("\u{f0000}"), "\"\\U000f0000\"");
    }
}
