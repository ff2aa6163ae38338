//! Docker's ignore-pattern matcher, as github.com/moby/patternmatcher implements it.
//!
//! Each pattern is classified once: an exact string, a `dir/**` prefix, a `**/name` suffix, or
//! a regular expression generated from the pattern text (`*` -> `[^/]*`, `?` -> `[^/]`,
//! `**/` -> `(.*/)?`, `\c` escapes, `[...]` passed through). A path is excluded when the last
//! pattern that matches it, or one of its parent directories, is not a `!` exception.

use super::gopath::{self, BadPattern};
use super::goregex::{self, InvalidRegex};
use super::ContextError;
use regex::Regex;
use std::sync::OnceLock;

/// Regex metacharacters escaped when the pattern is turned into a regex. Upstream means
/// `.+()|{}$`, but its bitmap (`[8]byte`, bit `c/8`) overflows for `{`, `|` and `}`, so
/// those reach Go's regexp unescaped: `a{2}` matches `aa`, `a|b` is an alternation.
fn should_escape(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '$')
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `dir/**`: the cleaned pattern minus its trailing `**` (bytes: upstream slices bytes).
    Prefix(Vec<u8>),
    /// `**name`: the cleaned pattern minus its first two bytes.
    Suffix(Vec<u8>),
    /// The compiled regex and the Go regexp source it was generated as.
    Regex(Regex, String),
}

/// How a pattern is matched (patternmatcher's `matchType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Compared with the path as is.
    Exact,
    /// `dir/**`: a prefix of the path.
    Prefix,
    /// `**name`: a suffix of the path.
    Suffix,
    /// A generated regular expression.
    Regex,
}

/// One cleaned pattern of a [`PatternMatcher`].
#[derive(Debug)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    /// Compiled on first use, as upstream does; `Err` when Go's regexp would reject it.
    kind: OnceLock<Result<Kind, InvalidRegex>>,
}

impl Pattern {
    /// The cleaned pattern text, without the `!` of an exception.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// True for a `!` exception (a pattern that re-includes).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// How the pattern is matched, and for [`MatchKind::Regex`] the Go regexp source
    /// generated for it (as patternmatcher's `compile` writes it). Fails for a pattern that
    /// passes the syntax check but that Go's regexp rejects (such as `[Local-Only]`).
    pub fn match_kind(&self) -> Result<(MatchKind, Option<&str>), ContextError> {
        Ok(match self.kind()? {
            Kind::Exact => (MatchKind::Exact, None),
            Kind::Prefix(_) => (MatchKind::Prefix, None),
            Kind::Suffix(_) => (MatchKind::Suffix, None),
            Kind::Regex(_, src) => (MatchKind::Regex, Some(src.as_str())),
        })
    }

    fn kind(&self) -> Result<&Kind, ContextError> {
        self.kind
            .get_or_init(|| compile(&self.cleaned))
            .as_ref()
            .map_err(|_| ContextError::BadPattern {
                pattern: self.cleaned.clone(),
            })
    }

    fn matches(&self, path: &str) -> Result<bool, ContextError> {
        Ok(match self.kind()? {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(p) => path.as_bytes().starts_with(p),
            Kind::Suffix(s) => {
                // "**/foo" also matches "foo" itself.
                path.as_bytes().ends_with(s)
                    || (s.first() == Some(&b'/') && path.as_bytes() == &s[1..])
            }
            Kind::Regex(re, _) => re.is_match(path),
        })
    }
}

/// patternmatcher's `compile`: classify the pattern and build its regex text.
fn compile(pattern: &str) -> Result<Kind, InvalidRegex> {
    #[derive(PartialEq)]
    enum Ty {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut ty = Ty::Exact;
    let mut chars: Vec<char> = pattern.chars().collect();
    // Go's text/scanner drops a leading byte order mark.
    if chars.first() == Some(&'\u{FEFF}') {
        chars.remove(0);
    }
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                // "**/" behaves as "**".
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    // A trailing "**" accepts everything, like .gitignore.
                    if ty == Ty::Exact {
                        ty = Ty::Prefix;
                    } else {
                        re.push_str(".*");
                        ty = Ty::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    ty = Ty::Regex;
                }
                if first {
                    ty = Ty::Suffix;
                }
            } else {
                re.push_str("[^/]*");
                ty = Ty::Regex;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            ty = Ty::Regex;
        } else if should_escape(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            // Escapes the next character; a trailing backslash stays (escaped by the '$').
            if let Some(&next) = chars.get(i) {
                i += 1;
                re.push('\\');
                re.push(next);
                ty = Ty::Regex;
            } else {
                re.push('\\');
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            ty = Ty::Regex;
        } else {
            re.push(ch);
        }
        first = false;
    }
    Ok(match ty {
        Ty::Exact => Kind::Exact,
        Ty::Prefix => Kind::Prefix(pattern.as_bytes()[..pattern.len() - 2].to_vec()),
        Ty::Suffix => Kind::Suffix(pattern.as_bytes()[2..].to_vec()),
        Ty::Regex => {
            re.push('$');
            Kind::Regex(goregex::compile(&re)?, re)
        }
    })
}

/// Per-pattern results for a directory, handed to the matching of its children
/// (patternmatcher's `MatchInfo`). The default value means "no information".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of ignore patterns (patternmatcher's `PatternMatcher`).
#[derive(Debug, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// patternmatcher's `New`: trims and cleans each pattern, drops empty ones, splits off
    /// `!`, and checks the syntax with `filepath.Match`.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher, ContextError> {
        let mut pm = PatternMatcher::default();
        for raw in patterns {
            let p = gopath::trim_space(raw.as_ref());
            if p.is_empty() {
                continue;
            }
            let mut p = gopath::clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(ContextError::IllegalExclusion);
                }
                exclusion = true;
                pm.exclusions = true;
                p = rest.to_string();
            }
            // Only the syntax check matters here; whether "." matches is irrelevant.
            if gopath::go_match(&p, ".") == Err(BadPattern) {
                return Err(ContextError::BadPattern { pattern: p });
            }
            pm.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind: OnceLock::new(),
            });
        }
        Ok(pm)
    }

    /// True when some pattern is a `!` exception.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// The active patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// patternmatcher's `MatchesOrParentMatches`: is `file` (a slash-separated relative path)
    /// excluded, by a pattern matching it or any of its parent directories?
    pub fn matches_or_parent_matches(&self, file: &str) -> Result<bool, ContextError> {
        let parent = parent_of(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // An inclusion cannot change an already excluded path, nor an exception an
            // included one.
            if pattern.exclusion != matched {
                continue;
            }
            let mut m = pattern.matches(file)?;
            if !m && parent != "." {
                m = self.any_parent_matches(pattern, &parent_dirs);
            }
            if m {
                matched = !pattern.exclusion;
            }
        }
        Ok(matched)
    }

    fn any_parent_matches(&self, pattern: &Pattern, parent_dirs: &[&str]) -> bool {
        // Upstream ignores errors here: the pattern already matched (or failed) on the file.
        (1..=parent_dirs.len()).any(|i| {
            pattern
                .matches(&parent_dirs[..i].join("/"))
                .unwrap_or(false)
        })
    }

    /// patternmatcher's `MatchesUsingParentResults`: like
    /// [`matches_or_parent_matches`](Self::matches_or_parent_matches), reusing the results
    /// computed for the parent directory during a walk (`MatchInfo::default()` for none).
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), ContextError> {
        let pm = &parent.parent_matched;
        if !pm.is_empty() && pm.len() != self.patterns.len() {
            return Err(ContextError::MatchInfoMismatch);
        }
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, pattern) in self.patterns.iter().enumerate() {
            // A parent directory that matched this pattern decides it for its contents.
            let mut m = pm.get(i).copied().unwrap_or(false);
            if !m {
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(file)?;
                if !m && pm.is_empty() {
                    let parent_path = parent_of(file);
                    if parent_path != "." {
                        let dirs: Vec<&str> = parent_path.split('/').collect();
                        m = self.any_parent_matches(pattern, &dirs);
                    }
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        Ok((matched, info))
    }

    /// fsutil's walk shortcut: may an excluded directory `dir` contain an exception? When no
    /// exception has wildcards (before a trailing `/*` or `/**`), only those below `dir` can;
    /// otherwise any might, and the directory must be walked.
    pub fn may_have_exception_inside(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let wildcard_exceptions = self.patterns.iter().any(|p| {
            p.exclusion
                && without_trailing_glob(&p.cleaned).contains(['*', '[', ']', '?', '^', '\\'])
        });
        if wildcard_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", without_trailing_glob(&p.cleaned)).starts_with(&dir_slash))
    }

    /// The pattern count (for sizing per-directory state).
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

fn without_trailing_glob(p: &str) -> &str {
    let p = p.strip_suffix("/**").unwrap_or(p);
    p.strip_suffix("/*").unwrap_or(p)
}

/// Go's `filepath.Dir`: everything up to and including the last '/', cleaned.
fn parent_of(file: &str) -> String {
    match file.rfind('/') {
        Some(i) => gopath::clean(&file[..=i]),
        None => ".".to_string(),
    }
}

/// patternmatcher's package-level `MatchesOrParentMatches`: builds a matcher and matches
/// `file` after cleaning it; `.` (the whole context) is never excluded.
pub fn matches_or_parent_matches<S: AsRef<str>>(
    file: &str,
    patterns: &[S],
) -> Result<bool, ContextError> {
    let pm = PatternMatcher::new(patterns)?;
    let file = gopath::clean(file);
    if file == "." {
        return Ok(false);
    }
    pm.matches_or_parent_matches(&file)
}
