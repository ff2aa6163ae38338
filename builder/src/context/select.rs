//! COPY/ADD source selection with BuildKit's path rules, resolved inside the view only.

use super::gopath::{self, contains_wildcards, go_match};
use super::view::{ContextView, Entry, EntryKind};
use super::ContextError;

/// BuildKit's limit on symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 255;

/// A COPY source after BuildKit's cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanSource {
    /// Absolute within the context and cleaned, e.g. `"/src"` for `"./src/"`, `"/x"` for
    /// `"../x"`: the form BuildKit looks up and names in errors.
    pub path: String,
    /// True when a `..` tried to climb above the context root and was clamped there (the
    /// front end may warn: the source is read from inside the context, never outside).
    pub clamped: bool,
}

/// Cleans a COPY source as BuildKit does (`path.Join("/", src)`): relative to the context
/// root, trailing slash dropped, `..` clamped at the root.
pub fn clean_source(src: &str) -> CleanSource {
    let relative = gopath::clean(src.trim_start_matches('/'));
    CleanSource {
        path: gopath::join_root(src),
        clamped: relative == ".." || relative.starts_with("../"),
    }
}

/// fsutil's `splitWildcards`: the components before the first one with a wildcard, and the
/// rest. `p` is absolute and clean.
fn split_wildcards(p: &str) -> (String, String) {
    let mut prefix = Vec::new();
    let mut rest = Vec::new();
    let mut found = false;
    for part in p.split('/').filter(|s| !s.is_empty()) {
        found |= contains_wildcards(part);
        if found {
            rest.push(part);
        } else {
            prefix.push(part);
        }
    }
    (format!("/{}", prefix.join("/")), rest.join("/"))
}

fn rel(abs: &str) -> &str {
    abs.trim_start_matches('/')
}

impl ContextView {
    /// Resolves absolute `p` inside the view, following symlinks in every component (the
    /// last one only when `follow_trailing`), like BuildKit's `getFollowLinks`: absolute link
    /// targets restart at the context root, `..` stops there, missing components are applied
    /// lexically. Returns the resolved absolute path and its entry index, if it exists.
    pub(crate) fn resolve(
        &self,
        p: &str,
        follow_trailing: bool,
    ) -> Result<(String, Option<usize>), ContextError> {
        let direct = self.index_of(rel(p));
        if let Some(i) = direct {
            if !follow_trailing || !matches!(self.entries[i].kind, EntryKind::Symlink(_)) {
                return Ok((p.to_string(), Some(i)));
            }
        }
        let mut current = String::from("/");
        let mut remaining = p.trim_end_matches('/').to_string();
        let mut links = 0;
        while !remaining.is_empty() {
            let (part, rest) = match remaining.find('/') {
                Some(i) => (remaining[..i].to_string(), remaining[i + 1..].to_string()),
                None => (std::mem::take(&mut remaining), String::new()),
            };
            remaining = rest;
            let next = gopath::join_root(&format!("{current}/{part}"));
            let target = match self.index_of(rel(&next)).map(|i| &self.entries[i].kind) {
                Some(EntryKind::Symlink(t)) => t.clone(),
                _ => {
                    current = next;
                    continue;
                }
            };
            if !follow_trailing && remaining.is_empty() {
                current = next;
                break;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(ContextError::TooManyLinks {
                    path: p.to_string(),
                });
            }
            remaining = format!("{target}/{remaining}");
            if target.starts_with('/') {
                current = String::from("/");
            }
        }
        let i = self.index_of(rel(&current));
        Ok((current, i))
    }

    /// The entry for a selected source: named `name` (absolute), content from `resolved_idx`.
    fn selected(&self, name: &str, resolved_idx: usize) -> Entry {
        let target = &self.entries[resolved_idx];
        Entry {
            path: rel(name).to_string(),
            resolved: target.path.clone(),
            kind: target.kind.clone(),
            meta: target.meta,
        }
    }

    /// Selects COPY/ADD sources, each relative to the context root (see [`clean_source`]).
    ///
    /// A source without wildcards must exist (`"/nope": not found` otherwise); a symlink is
    /// followed inside the view. A source with wildcards (`*`, `?`, `[`; `\` escapes) selects
    /// every entry below its wildcard-free prefix whose relative path matches the rest with
    /// `filepath.Match`, not descending into matched directories; matching nothing selects
    /// nothing (BuildKit allows empty wildcards), but a wildcard-free prefix that does not
    /// exist is an error naming it (BuildKit fails the copy there too). Matched symlinks are
    /// followed too. Results keep source order, then walk order.
    pub fn select(&self, sources: &[String]) -> Result<Vec<Entry>, ContextError> {
        let mut out = Vec::new();
        for src in sources {
            let p = clean_source(src).path;
            if !contains_wildcards(&p) {
                let (_, idx) = self.resolve(&p, true)?;
                let idx = idx.ok_or_else(|| ContextError::NotFound { path: p.clone() })?;
                out.push(self.selected(&p, idx));
                continue;
            }
            let (prefix, pattern) = split_wildcards(&p);
            // Check the pattern once, even if nothing gets compared with it.
            if go_match(&pattern, "") == Err(gopath::BadPattern) {
                return Err(ContextError::BadPattern { pattern: p.clone() });
            }
            let (resolved_prefix, idx) = self.resolve(&prefix, true)?;
            let base = idx.ok_or_else(|| ContextError::NotFound {
                path: prefix.clone(),
            })?;
            let base_rel = rel(&resolved_prefix);
            let mut i = base + 1;
            let end = self.subtree_end[base];
            while i < end {
                let e = &self.entries[i];
                let below = if base_rel.is_empty() {
                    e.path.as_str()
                } else {
                    &e.path[base_rel.len() + 1..]
                };
                let matched = go_match(&pattern, below)
                    .map_err(|_| ContextError::BadPattern { pattern: p.clone() })?;
                if !matched {
                    i += 1;
                    continue;
                }
                let name = if prefix == "/" {
                    format!("/{below}")
                } else {
                    format!("{prefix}/{below}")
                };
                let target = if matches!(e.kind, EntryKind::Symlink(_)) {
                    let (_, t) = self.resolve(&name, true)?;
                    t.ok_or_else(|| ContextError::NotFound { path: name.clone() })?
                } else {
                    i
                };
                out.push(self.selected(&name, target));
                // A matched directory is taken whole.
                i = self.subtree_end[i];
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_wildcards("/a/b*/c"), ("/a".into(), "b*/c".into()));
        assert_eq!(split_wildcards("/*.txt"), ("/".into(), "*.txt".into()));
        assert_eq!(split_wildcards("/a\\*b/c?"), ("/a\\*b".into(), "c?".into()));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_source("../x").path, "/x");
        assert!(clean_source("../x").clamped);
        assert!(clean_source("/../x").clamped);
        assert!(!clean_source("a/../x").clamped);
        assert!(clean_source("a/../../x").clamped);
        assert_eq!(clean_source("./src/").path, "/src");
        assert_eq!(clean_source(".").path, "/");
    }
}
