//! The Dockerfile front end: a pure compiler from text to typed instructions (no I/O, no clock).

pub mod ast;
mod directives;
pub mod dump;
pub mod error;
mod go_json;
mod heredoc;
pub mod instructions;
mod line_parsers;
pub mod lint;
pub mod parser;
pub mod scope;
pub mod shell;
