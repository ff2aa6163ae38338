//! The build context: ignore rules, the walked view of the context directory, COPY/ADD source
//! selection and content hashes.
//!
//! Semantics follow Docker/BuildKit where a user can observe them:
//! - `.dockerignore` (or `FILE.dockerignore` beside the Dockerfile, see [`ignore_file_for`]) is
//!   read like docker's `ignorefile.ReadAll` and matched like moby/patternmatcher
//!   ([`PatternMatcher`]), walking like fsutil (an excluded directory is still entered when an
//!   exception may re-include something inside it).
//! - [`ContextView::select`] resolves COPY sources like BuildKit: relative to the context root,
//!   `..` clamped at the root, `filepath.Match` wildcards, symlinks resolved inside the view
//!   (never outside the context), `"/nope": not found` for a missing source.
//! - [`ContextView::digest`] hashes what was selected (content, mode, owner, link targets,
//!   names, xattrs as BuildKit's content hash takes them; never times) with a versioned encoding, in parallel, reusing a [`StatCache`].
//!
//! ```no_run
//! use strata_builder::context::{load_ignore, ContextView, StatCache};
//! # fn main() -> Result<(), strata_builder::context::ContextError> {
//! let ctx = std::path::Path::new("app");
//! let ignore = load_ignore(Some(&ctx.join("Dockerfile")), ctx)?;
//! let view = ContextView::open(ctx, &ignore.patterns)?;
//! let cache = StatCache::load(std::path::Path::new("/var/lib/strata/v1/statcache"));
//! let selected = view.select(&["src/".to_string(), "*.toml".to_string()])?;
//! let digest = view.digest(&selected, &cache)?;
//! cache.save(std::path::Path::new("/var/lib/strata/v1/statcache"))?;
//! # let _ = digest; Ok(()) }
//! ```

mod gopath;
mod goregex;
mod hash;
mod ignorefile;
mod patternmatcher;
mod placed;
mod select;
mod statcache;
mod stdin;
mod view;
mod walk;
mod xattrs;

pub use gopath::{clean, contains_wildcards, go_match, join_root, BadPattern};
pub use hash::{HashStats, ENCODING_VERSION};
pub use ignorefile::{ignore_file_for, load_ignore, read_all, IgnoreFile, MAX_LINE};
pub use patternmatcher::{
    matches_or_parent_matches, MatchInfo, MatchKind, Pattern, PatternMatcher,
};
pub use placed::Placed;
pub use select::{clean_source, CleanSource};
pub use statcache::{LoadStatus, StatCache, STAT_CACHE_VERSION};
pub use stdin::{is_archive, read_stdin_context, StdinContext};
pub use view::{ContextView, Entry, EntryKind, Meta, Timestamp};

use std::path::PathBuf;

/// Everything that can go wrong reading a build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A pattern that Go's `filepath.Match` or `regexp` would reject.
    #[error("syntax error in pattern {pattern:?}")]
    BadPattern {
        /// The cleaned pattern.
        pattern: String,
    },
    /// A pattern that is only `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// A [`MatchInfo`] from a different matcher.
    #[error("wrong number of values in parentMatched")]
    MatchInfoMismatch,
    /// An ignore-file line longer than Go's `bufio.Scanner` accepts.
    #[error("{}: line {line}: bufio.Scanner: token too long", path.display())]
    IgnoreLineTooLong {
        /// The ignore file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// An I/O error on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The context path is not a directory.
    #[error("build context {} is not a directory", path.display())]
    NotADirectory {
        /// The context path.
        path: PathBuf,
    },
    /// A file in the context (not excluded) whose name is not UTF-8.
    #[error("{}: file name is not valid UTF-8 (exclude it in .dockerignore)", path.display())]
    NonUtf8Name {
        /// The file.
        path: PathBuf,
    },
    /// A COPY/ADD source that is not in the context (BuildKit's wording).
    #[error("{}: not found", go_quote(path))]
    NotFound {
        /// The source as BuildKit names it: absolute within the context, e.g. `/nope`.
        path: String,
    },
    /// Symlinks inside the context that loop or nest too deeply.
    #[error("{}: too many links", go_quote(path))]
    TooManyLinks {
        /// The source being resolved.
        path: String,
    },
    /// A file was replaced (different inode) between the walk and hashing.
    #[error("{}: file changed while the build context was read", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
}

/// Go's `%q` for the strings that occur in paths: quotes, backslashes and control characters
/// escaped, printable Unicode kept.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ContextError {
    let path = path.into();
    move |source| ContextError::Io { path, source }
}
