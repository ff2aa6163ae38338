//! Word expansion with BuildKit's shell-lexer semantics.
