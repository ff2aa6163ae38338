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
    let mut s = node.keyword.clone();
    if !node.flags.is_empty() {
        s.push_str(" [");
        for (i, f) in node.flags.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&go_quote(f));
        }
        s.push(']');
    }
    for arg in &node.args {
        s.push(' ');
        match arg {
            Arg::Word(w) => s.push_str(&go_quote(w)),
            Arg::Node(n) => {
                s.push('(');
                s.push_str(&dump_node(n));
                s.push(')');
            }
        }
    }
    // Go trims the result, which matters only for an empty keyword.
    s.trim().to_string()
}

/// Quotes a string exactly as Go's `strconv.Quote` (`%q`) does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
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
    out
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
