//! The Dockerfile front end: a pure compiler from text to typed instructions (no I/O, no clock).

pub mod ast;
pub mod shell;
