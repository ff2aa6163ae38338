//! The Dockerfile parser: source text to [`Ast`], with BuildKit's exact semantics.
//!
//! The flow mirrors BuildKit's `parser.Parse`: a line scanner, parser directives at the
//! top, comments and blank lines skipped, continuation lines joined (comment lines inside
//! them dropped, blank ones dropped with a warning), then each logical line is split into
//! keyword, flags and arguments, and heredoc bodies are read for RUN/COPY/ADD.

use super::ast::{Arg, Ast, Node, Warning};
use super::directives::DirectiveParser;
use super::error::{ParseError, ParseErrorKind};
use super::heredoc::heredocs_from_line;
use super::line_parsers::node_from_line;

/// BuildKit's `bufio.Scanner` refuses lines of this many bytes or more.
const MAX_LINE: usize = 64 * 1024;

/// Parses a Dockerfile. Pure: no I/O, never panics on any input.
pub fn parse(source: &str) -> Result<Ast, ParseError> {
    let mut sc = Lines {
        src: source,
        pos: 0,
        too_long: false,
    };
    let mut dp = DirectiveParser::default();
    let mut current_line = 0;
    let mut children: Vec<Node> = Vec::new();
    let mut warnings: Vec<Warning> = Vec::new();
    let mut comments: Vec<String> = Vec::new();

    while let Some(raw) = sc.next_line() {
        let (mut text, mut start) = (raw.text, raw.start);
        if current_line == 0 {
            if let Some(t) = text.strip_prefix('\u{feff}') {
                text = t;
                start += 3;
            }
        }
        if is_comment(text) {
            // BuildKit drops the line's first byte, whatever it is, before trimming; bytes
            // left of a split character become U+FFFD.
            let after = String::from_utf8_lossy(&text.as_bytes()[1..]);
            let comment = after.trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_string());
            }
        }
        let line_no = current_line + 1;
        let (token, directive) =
            process_line(&mut dp, text, true, line_no).map_err(|k| ParseError::new(k, line_no))?;
        if directive {
            comments.pop();
        }
        current_line += 1;
        let start_line = current_line;
        let escape = dp.directives.escape;
        let (first, mut end_of_line) = trim_continuation(token, escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let span_start = start + (text.len() - text.trim_start().len());
        let mut span_end = start + trim_newline(text).len();

        let mut has_empty_continuation = false;
        while !end_of_line {
            let Some(raw) = sc.next_line() else { break };
            let line_no = current_line + 1;
            let (token, _) = process_line(&mut dp, raw.text, false, line_no)
                .map_err(|k| ParseError::new(k, line_no))?;
            current_line += 1;
            span_end = raw.start + trim_newline(raw.text).len();
            if is_comment(raw.text) {
                continue;
            }
            if token.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(token, dp.directives.escape);
            end_of_line = eol;
            line.push_str(part);
        }

        if has_empty_continuation {
            warnings.push(Warning {
                short: format!("Empty continuation line found in: {line}"),
                detail: vec![
                    "Empty continuation lines will become errors in a future release".into(),
                ],
                url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/".into(),
                lines: Some((current_line, current_line)),
            });
        }

        let mut node = node_from_line(&line, dp.directives.escape, std::mem::take(&mut comments))
            .map_err(|k| ParseError::spanning(k, start_line, current_line))?;

        if can_contain_heredoc(&node) && line.contains("<<") {
            let docs = heredocs_from_line(&line)
                .map_err(|k| ParseError::spanning(k, start_line, current_line))?;
            for mut doc in docs {
                let mut terminated = false;
                while let Some(raw) = sc.next_line() {
                    current_line += 1;
                    span_end = raw.start + trim_newline(raw.text).len();
                    let mut candidate = trim_newline(raw.text);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw.text);
                }
                if !terminated {
                    return Err(ParseError::spanning(
                        ParseErrorKind::UnterminatedHeredoc,
                        start_line,
                        current_line,
                    ));
                }
                node.heredocs.push(doc);
            }
        }

        set_location(&mut node, start_line, current_line, span_start..span_end);
        children.push(node);
    }

    if children.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::NoInstructions,
            current_line,
        ));
    }
    if sc.too_long {
        return Err(ParseError::new(
            ParseErrorKind::LineTooLong,
            current_line + 1,
        ));
    }
    let mut all_warnings = std::mem::take(&mut dp.warnings);
    all_warnings.extend(warnings);
    Ok(Ast {
        directives: dp.directives,
        children,
        warnings: all_warnings,
    })
}

/// Gives a node (and its ONBUILD-nested nodes) its lines and byte span.
fn set_location(node: &mut Node, start: usize, end: usize, span: std::ops::Range<usize>) {
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        n.start_line = start;
        n.end_line = end;
        n.span = span.clone();
        for arg in &mut n.args {
            if let Arg::Node(child) = arg {
                todo.push(child);
            }
        }
    }
}

/// RUN, COPY and ADD in shell form take heredocs, also under ONBUILD.
fn can_contain_heredoc(node: &Node) -> bool {
    let node = match (node.keyword.as_str(), node.args.first()) {
        ("onbuild", Some(Arg::Node(child))) => child,
        _ => node,
    };
    matches!(node.keyword.as_str(), "run" | "copy" | "add") && !node.json
}

/// One physical line and its byte offset.
struct RawLine<'a> {
    start: usize,
    /// The line including its `\n`, if any.
    text: &'a str,
}

/// Splits the source into lines, stopping (like Go's scanner) at an over-long one.
struct Lines<'a> {
    src: &'a str,
    pos: usize,
    too_long: bool,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<RawLine<'a>> {
        let rest = self.src.get(self.pos..).filter(|r| !r.is_empty())?;
        let (content, len) = match rest.find('\n') {
            Some(i) => (i, i + 1),
            None => (rest.len(), rest.len()),
        };
        if content >= MAX_LINE {
            self.too_long = true;
            self.pos = self.src.len();
            return None;
        }
        let line = RawLine {
            start: self.pos,
            text: &rest[..len],
        };
        self.pos += len;
        Some(line)
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's `processLine`: trims, checks for a directive, blanks comment lines.
fn process_line<'a>(
    dp: &mut DirectiveParser,
    raw: &'a str,
    strip_left: bool,
    line_no: usize,
) -> Result<(&'a str, bool), ParseErrorKind> {
    let mut token = trim_newline(raw);
    if strip_left {
        token = token.trim_start();
    }
    let directive = dp.parse_line(token, line_no)?;
    Ok((if is_comment(token) { "" } else { token }, directive))
}

/// Removes a trailing continuation escape (and blanks after it); `true` when none was there.
/// An escaped escape (`\\` at the end) is not a continuation.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

#[cfg(test)]
mod tests {
    use super::trim_continuation;

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\ ", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a`", '`'), ("a", false));
        assert_eq!(trim_continuation("a\\", '`'), ("a\\", true));
        assert_eq!(trim_continuation("a \\\r", '\\'), ("a \\\r", true));
    }
}
