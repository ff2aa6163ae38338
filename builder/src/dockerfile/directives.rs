//! Parser directives (`# escape=`, `# syntax=`, `# check=`) at the top of a Dockerfile.
//!
//! As in BuildKit, directives are recognised only until the first line that is not one
//! (an instruction, a blank line or an ordinary comment), and each may appear once.

use super::ast::{Directives, Warning};
use super::error::ParseErrorKind;

/// Directive-scanning state for one parse.
#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    pub(crate) directives: Directives,
    pub(crate) warnings: Vec<Warning>,
    done: bool,
    seen: Vec<String>,
}

/// Go's regexp `\s`: ASCII space, \t, \n, \f, \r (not \v).
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

/// Splits `name = value` per BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn split_directive(text: &str) -> Option<(&str, &str)> {
    let key_len = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let rest = text[key_len..].trim_start_matches(is_go_space);
    let rest = rest.strip_prefix('=')?;
    if rest.is_empty() {
        return None;
    }
    let value = rest.trim_matches(is_go_space);
    if !value.is_empty() {
        return Some((&text[..key_len], value));
    }
    // All blank: the lazy value takes the last character, as the regexp backtracks.
    let last = rest.char_indices().next_back().map_or(0, |(i, _)| i);
    Some((&text[..key_len], &rest[last..]))
}

impl DirectiveParser {
    /// Looks at one line (newline trimmed); `Ok(true)` when it was a directive.
    pub(crate) fn parse_line(
        &mut self,
        line: &str,
        line_no: usize,
    ) -> Result<bool, ParseErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some(text) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let Some((key, value)) = split_directive(text.trim_start()) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(ParseErrorKind::DuplicateDirective(key));
        }
        match key.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(ParseErrorKind::InvalidEscapeToken(value.to_string())),
                };
            }
            "syntax" => {
                self.directives.syntax = Some(value.to_string());
                self.warnings.push(Warning {
                    short: format!("The syntax directive is ignored: {value}"),
                    detail: vec!["strata always uses its built-in Dockerfile frontend".to_string()],
                    url: String::new(),
                    lines: Some((line_no, line_no)),
                });
            }
            _ => self.directives.check = Some(value.to_string()),
        }
        self.seen.push(key);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::{split_directive, DirectiveParser};
    use crate::dockerfile::error::ParseErrorKind;

    #[test]
    fn splits_like_the_regexp() {
        assert_eq!(split_directive("escape = `  "), Some(("escape", "`")));
        assert_eq!(
            split_directive("syntax=docker/dockerfile:1 x"),
            Some(("syntax", "docker/dockerfile:1 x"))
        );
        assert_eq!(split_directive("escape=  "), Some(("escape", " ")));
        assert_eq!(split_directive("e2x=1"), Some(("e2x", "1")));
        assert_eq!(split_directive("2x=1"), None);
        assert_eq!(split_directive("escape="), None);
        assert_eq!(split_directive("escape `"), None);
    }

    #[test]
    fn directive_rules() {
        let mut d = DirectiveParser::default();
        assert_eq!(d.parse_line("# ESCAPE=`", 1), Ok(true));
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.parse_line("#check=skip=all", 2), Ok(true));
        assert_eq!(d.directives.check.as_deref(), Some("skip=all"));
        assert_eq!(
            d.parse_line("# escape=\\", 3),
            Err(ParseErrorKind::DuplicateDirective("escape".into()))
        );
        let mut d = DirectiveParser::default();
        assert_eq!(
            d.parse_line("# escape=x", 1),
            Err(ParseErrorKind::InvalidEscapeToken("x".into()))
        );
        let mut d = DirectiveParser::default();
        assert_eq!(d.parse_line("# unknown=1", 1), Ok(false));
        assert_eq!(d.parse_line("# escape=`", 2), Ok(false));
        assert_eq!(d.directives.escape, '\\');
    }
}
