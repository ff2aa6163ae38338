//! The syntax tree produced by the Dockerfile parser.
//!
//! The shape mirrors BuildKit's `parser.Node` closely enough that BuildKit's dump format
//! and its instruction dispatchers can be reproduced from it: one [`Node`] per instruction,
//! whose arguments are BuildKit's `Next` chain.

use std::ops::Range;

/// A parsed Dockerfile: parser directives, one node per instruction, and warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ast {
    /// The parser directives found at the top of the file.
    pub directives: Directives,
    /// The instructions, in source order.
    pub children: Vec<Node>,
    /// Non-fatal findings (e.g. empty continuation lines), in source order.
    pub warnings: Vec<Warning>,
}

/// Parser directives (`# escape=`, `# syntax=`, `# check=`) from the file's header comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` (the default) or `` ` ``.
    pub escape: char,
    /// The `# syntax=` frontend reference, recorded but not acted upon.
    pub syntax: Option<String>,
    /// The `# check=` build-check configuration, unparsed.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Self {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// One instruction (or, inside ONBUILD, the nested instruction).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword, lower-cased (`"run"`, `"copy"`, ...).
    pub keyword: String,
    /// The instruction's original text with continuation lines joined (BuildKit's `Original`).
    pub original: String,
    /// The raw flags in source order, e.g. `"--from=build"`.
    pub flags: Vec<String>,
    /// The arguments: BuildKit's `Next` chain.
    pub args: Vec<Arg>,
    /// Heredoc bodies attached to this instruction, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// Whether the arguments came from the JSON (exec) form.
    pub json: bool,
    /// 1-based line where the instruction starts.
    pub start_line: usize,
    /// 1-based line where the instruction (including heredoc bodies) ends.
    pub end_line: usize,
    /// Byte offsets of the instruction in the source text.
    pub span: Range<usize>,
    /// Comment lines directly preceding the instruction, without the leading `#`.
    pub prev_comments: Vec<String>,
}

impl Node {
    /// The keyword as written in the source (e.g. `RUNN` in an error message).
    pub fn raw_keyword(&self) -> &str {
        let t = self.original.trim();
        t.split(['\t', '\u{b}', '\u{c}', '\r', ' '])
            .next()
            .unwrap_or(t)
    }

    /// The words of the argument chain (nested ONBUILD nodes skipped).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.args.iter().filter_map(Arg::as_word)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Unlink nested nodes into a worklist so that a deep `ONBUILD ONBUILD ...` chain
        // is freed without recursion (the derived drop would overflow small stacks).
        if !self.args.iter().any(|a| matches!(a, Arg::Node(_))) {
            return;
        }
        let mut todo: Vec<Box<Node>> = Vec::new();
        let take = |args: &mut Vec<Arg>, todo: &mut Vec<Box<Node>>| {
            for arg in args.drain(..) {
                if let Arg::Node(child) = arg {
                    todo.push(child);
                }
            }
        };
        take(&mut self.args, &mut todo);
        while let Some(mut node) = todo.pop() {
            take(&mut node.args, &mut todo);
        }
    }
}

/// One element of an instruction's argument chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A plain string argument.
    Word(String),
    /// A nested instruction (ONBUILD's argument).
    Node(Box<Node>),
}

impl Arg {
    /// The word, if this argument is one.
    pub fn as_word(&self) -> Option<&str> {
        match self {
            Arg::Word(w) => Some(w),
            Arg::Node(_) => None,
        }
    }
}

/// A heredoc body attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The delimiter word, without quotes (e.g. `EOF`).
    pub name: String,
    /// The file descriptor it feeds: 0 unless written as `3<<EOF`.
    pub file_descriptor: u64,
    /// Whether variables are expanded in the body (false when the delimiter was quoted).
    pub expand: bool,
    /// Whether leading tabs are to be stripped (`<<-`); the content here is not yet stripped.
    pub chomp: bool,
    /// The body, each line ending with a newline, without the terminating delimiter line.
    pub content: String,
}

impl Heredoc {
    /// The content as the instruction uses it: with `<<-`, leading tabs removed from every
    /// line (BuildKit's `ChompHeredocContent`).
    pub fn effective_content(&self) -> std::borrow::Cow<'_, str> {
        if !self.chomp {
            return std::borrow::Cow::Borrowed(&self.content);
        }
        let stripped: String = self
            .content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect();
        std::borrow::Cow::Owned(stripped)
    }
}

/// A non-fatal finding of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A one-line summary.
    pub short: String,
    /// Further explanation, possibly empty.
    pub detail: Vec<String>,
    /// A documentation link, possibly empty.
    pub url: String,
    /// The first and last 1-based lines (inclusive) the warning refers to, if any.
    pub lines: Option<(usize, usize)>,
}
