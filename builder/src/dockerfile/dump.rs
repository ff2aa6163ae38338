//! BuildKit's AST dump format (`parser.Node.Dump`) and Go's `%q` string quoting.

use std::fmt::Write as _;

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

use super::ast::{Arg, Ast, Node};

/// Dumps the AST one instruction per line, as BuildKit's `Dump` plus a final newline:
/// `(keyword ["--flag" ...] "arg" ... (nested))`.
pub fn dump(ast: &Ast) -> String {
    let mut out = String::new();
    for child in &ast.children {
        out.push('(');
        out.push_str(&dump_node(child));
        out.push_str(")\n");
    }
    out
}

/// Dumps every instruction (without parentheses) followed by one line per heredoc:
/// `  heredoc name="…" fd=N expand=… chomp=… content="…"` (the corpus' `heredocs` files).
pub fn dump_heredocs(ast: &Ast) -> String {
    let mut out = String::new();
    for child in &ast.children {
        out.push_str(&dump_node(child));
        out.push('\n');
        for h in &child.heredocs {
            let _ = writeln!(
                out,
                "  heredoc name={} fd={} expand={} chomp={} content={}",
                go_quote(&h.name),
                h.file_descriptor,
                h.expand,
                h.chomp,
                go_quote(&h.content)
            );
        }
    }
    out
}

/// One node's dump, without the surrounding parentheses.
pub fn dump_node(node: &Node) -> String {
    // An explicit stack instead of recursion: ONBUILD chains can be thousands deep.
    let mut out = String::new();
    let mut stack: Vec<(&Node, usize, usize)> = Vec::new();
    open_node(node, &mut out, &mut stack);
    while let Some(top) = stack.last_mut() {
        let (n, i, start) = *top;
        match n.args.get(i) {
            Some(arg) => {
                top.1 += 1;
                out.push(' ');
                match arg {
                    Arg::Word(w) => push_quoted(&mut out, w),
                    Arg::Node(child) => {
                        out.push('(');
                        open_node(child, &mut out, &mut stack);
                    }
                }
            }
            None => {
                stack.pop();
                trim_segment(&mut out, start);
                if !stack.is_empty() {
                    out.push(')');
                }
            }
        }
    }
    out
}

/// Writes a node's keyword and flags and pushes its frame.
fn open_node<'a>(n: &'a Node, out: &mut String, stack: &mut Vec<(&'a Node, usize, usize)>) {
    let start = out.len();
    out.push_str(&n.keyword);
    if !n.flags.is_empty() {
        out.push_str(" [");
        for (i, f) in n.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_quoted(out, f);
        }
        out.push(']');
    }
    stack.push((n, 0, start));
}

/// Go trims each node's dump; that matters only for an empty keyword.
fn trim_segment(out: &mut String, start: usize) {
    let end = out.trim_end().len().max(start);
    out.truncate(end);
    let lead = out[start..].len() - out[start..].trim_start().len();
    if lead > 0 {
        out.drain(start..start + lead);
    }
}

/// Quotes a string exactly as Go's `strconv.Quote` (`%q`) does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
fn go_is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::SpaceSeparator
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\u{7}\u{1b}\u{7f}"), r#""\x00\a\x1b\x7f""#);
        assert_eq!(go_quote("♥ ☃ é"), "\"♥ ☃ é\"");
        assert_eq!(go_quote("\u{a0}\u{ad}\u{feff}"), r#""\u00a0\u00ad\ufeff""#);
        assert_eq!(go_quote("\u{e000}\u{f0000}"), r#""\ue000\U000f0000""#);
        assert_eq!(go_quote("\t\n\r\u{b}\u{c}\u{8}"), r#""\t\n\r\v\f\b""#);
    }
}
