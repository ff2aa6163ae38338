//! Word expansion with BuildKit's shell-lexer semantics.
//!
//! Dockerfile instructions (`ENV`, `ARG`, `COPY`, `WORKDIR`, `FROM`, ...) expand `$VAR`,
//! `${VAR}` and the `${VAR<op>word}` forms, remove quotes and escapes, and optionally split
//! the result into words. This module reproduces BuildKit's `frontend/dockerfile/shell`
//! lexer behaviour by behaviour, including its quirks, so that a Dockerfile expands here
//! exactly as it does under `docker build`. It is pure: the environment is whatever
//! [`Env`] the caller passes, never the process environment.
//!
//! ```
//! use std::collections::HashMap;
//! use strata_builder::dockerfile::shell::Lexer;
//!
//! let env = HashMap::from([("NAME".to_string(), "world".to_string())]);
//! let lex = Lexer::new('\\');
//! assert_eq!(lex.process_word("hello ${NAME:-nobody}", &env).unwrap(), "hello world");
//! assert_eq!(lex.process_words("a 'b c' $NAME", &env).unwrap(), ["a", "b c", "world"]);
//! ```

mod env;
mod error;
mod pattern;
mod word;

use std::collections::BTreeSet;

pub use env::{EmptyEnv, Env, FnEnv};
pub use error::{ExpandError, ExpandErrorKind, PatternError};

/// The escape character Dockerfiles use unless a `# escape=` directive says otherwise.
pub const DEFAULT_ESCAPE: char = '\\';

/// A word expander configured like BuildKit's `shell.Lex`.
///
/// The default mode (all flags off) is the one used to expand instruction arguments. The
/// flags reproduce BuildKit's other modes, which its parser uses to inspect words without
/// evaluating them (e.g. heredoc detection uses `raw_quotes` + `skip_unset_env`).
///
/// A `Lexer` holds no per-call state, so unlike BuildKit's it may be shared across threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character: `\` normally, `` ` `` under `# escape=``.
    pub escape: char,
    /// Keep the quote characters of quoted sections in the output (BuildKit `RawQuotes`).
    pub raw_quotes: bool,
    /// Keep escape characters in the output (BuildKit `RawEscapes`).
    pub raw_escapes: bool,
    /// Treat `'` and `"` as ordinary characters (BuildKit `SkipProcessQuotes`).
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written instead of expanding them to the
    /// empty string (BuildKit `SkipUnsetEnv`).
    pub skip_unset_env: bool,
}

impl Default for Lexer {
    fn default() -> Self {
        Self::new(DEFAULT_ESCAPE)
    }
}

/// Everything one expansion produced (BuildKit `ProcessWordResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded word, quotes removed, whitespace kept (BuildKit `ProcessWord`).
    pub word: String,
    /// The expansion split into words (BuildKit `ProcessWords`).
    pub words: Vec<String>,
    /// Names that were looked up and found set (possibly to the empty string).
    pub matched: BTreeSet<String>,
    /// Names that were looked up and found unset.
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    /// A lexer in the default mode with `escape` as its escape character.
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// BuildKit's second mode: quotes are kept and unset variables are left unexpanded.
    pub fn with_raw_quotes_and_unset(self) -> Self {
        Self {
            raw_quotes: true,
            skip_unset_env: true,
            ..self
        }
    }

    /// Expands `word` into a single string (BuildKit `ProcessWord`).
    pub fn process_word<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<String, ExpandError> {
        self.process_word_with_matches(word, env).map(|e| e.word)
    }

    /// Expands `word` and splits the result into words as for an unquoted shell-form
    /// value: unquoted whitespace (also whitespace produced by a variable) separates words,
    /// quoted or escaped whitespace does not (BuildKit `ProcessWords`).
    pub fn process_words<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Vec<String>, ExpandError> {
        self.process_word_with_matches(word, env).map(|e| e.words)
    }

    /// Expands `word`, reporting both forms of the result and which variables were used
    /// and which were referenced while unset (BuildKit `ProcessWordWithMatches`).
    pub fn process_word_with_matches<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Expansion, ExpandError> {
        word::expand(self, word, env)
    }
}
