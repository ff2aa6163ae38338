//! COPY `--exclude` and `--parents`: the selection as a flat list of entries, each with the
//! path it lands at below the destination directory, and its digest.
//!
//! Semantics are BuildKit's (fsutil's copier, dockerfile 1.7 labs):
//! - `--exclude` patterns are matched like `.dockerignore` (moby/patternmatcher, `!`
//!   exceptions included) against paths relative to each copied source (after wildcard
//!   expansion); a source itself is never excluded. An excluded directory is skipped whole
//!   unless an exception pattern names something below it.
//! - `--parents`: a source `PIVOT/./PATH` (or `PATH`, pivot `/`) copies from the pivot what
//!   `PATH` matches, keeping the path below the pivot: `COPY --parents a/b/f /d/` gives
//!   `/d/a/b/f`. Directories on the way are created with the source's metadata. `PATH` may
//!   have wildcards (`filepath.Match` per component, `**` any depth); without any, it must
//!   exist.

use super::gopath::{self, contains_wildcards, go_match};
use super::hash::Enc;
use super::patternmatcher::PatternMatcher;
use super::statcache::StatCache;
use super::view::{ContextView, Entry};
use super::ContextError;
use strata_cache::Digest;

/// One entry a COPY places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Where it goes, relative to the destination directory (`/`-separated, never empty).
    pub rel: String,
    /// The view's entry whose metadata and content it carries.
    pub entry: Entry,
}

/// fsutil's `copier.exclude`: is `rel` (relative to the copied source) excluded? A matched
/// directory is kept (and its children judged one by one) when an exception pattern starts
/// with it.
fn excluded(exclude: &PatternMatcher, rel: &str, is_dir: bool) -> Result<bool, ContextError> {
    if exclude.is_empty() || !exclude.matches_or_parent_matches(rel)? {
        return Ok(false);
    }
    if is_dir && exclude.exclusions() {
        let dir_slash = format!("{rel}/");
        let inside = exclude
            .patterns()
            .iter()
            .filter(|p| p.is_exclusion())
            .any(|p| format!("{}/", p.as_str()).starts_with(&dir_slash));
        if inside {
            return Ok(false);
        }
    }
    Ok(true)
}

/// fsutil's `prefix.Match`: does `pattern` match `name`, or (`partial`) could it match
/// something below `name`, which has fewer components than the pattern?
fn prefix_match(pattern: &str, name: &str) -> (bool, bool) {
    let depth = name.matches('/').count();
    let parts: Vec<&str> = pattern.split('/').collect();
    if parts.len() > depth + 1 {
        let head = parts[..=depth].join("/");
        return (go_match(&head, name).unwrap_or(false), true);
    }
    (go_match(pattern, name).unwrap_or(false), false)
}

impl ContextView {
    /// The contents of the selected directory `source`, minus what `exclude` excludes, in
    /// walk order; `rel` is relative to the source. Empty for a non-directory.
    pub fn contents_excluding(
        &self,
        source: &Entry,
        exclude: &PatternMatcher,
    ) -> Result<Vec<Placed>, ContextError> {
        let Some(base) = self.index_of(&source.resolved) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut i = base + 1;
        let end = self.subtree_end[base];
        while i < end {
            let e = &self.entries[i];
            let rel = strip_base(&e.path, &source.resolved);
            if excluded(exclude, rel, e.is_dir())? {
                i = self.subtree_end[i];
                continue;
            }
            out.push(Placed {
                rel: rel.to_string(),
                entry: e.clone(),
            });
            i += 1;
        }
        Ok(out)
    }

    /// What `COPY --parents SRC` places (see the module comment), minus what `exclude`
    /// excludes (relative to the pivot).
    pub fn select_parents(
        &self,
        src: &str,
        exclude: &PatternMatcher,
    ) -> Result<Vec<Placed>, ContextError> {
        let (pivot, pattern) = match src.split_once("/./") {
            Some((pivot, pattern)) => (pivot.to_string(), pattern),
            None => ("/".to_string(), src),
        };
        let pattern = gopath::join_root(pattern);
        let pattern = pattern.trim_start_matches('/').to_string();
        if go_match(&pattern, "") == Err(gopath::BadPattern) {
            return Err(ContextError::BadPattern { pattern });
        }
        let required = !contains_wildcards(&pivot) && !contains_wildcards(&pattern);
        let pivots = self.select(std::slice::from_ref(&pivot))?;
        let deep = pattern.contains("**");
        let full = PatternMatcher::new(&[pattern.as_str()])?;
        let mut out = Vec::new();
        for p in pivots {
            let Some(base) = self.index_of(&p.resolved).filter(|_| p.is_dir()) else {
                continue;
            };
            if pattern.is_empty() {
                out.extend(self.contents_excluding(&p, exclude)?);
                continue;
            }
            // Directories on the way to a match, emitted (once) when something below matches.
            let mut pending: Vec<usize> = Vec::new();
            let mut emitted_upto = 0usize;
            let mut i = base + 1;
            let end = self.subtree_end[base];
            while i < end {
                while pending.last().is_some_and(|&d| i >= self.subtree_end[d]) {
                    pending.pop();
                    emitted_upto = emitted_upto.min(pending.len());
                }
                let e = &self.entries[i];
                let rel = strip_base(&e.path, &p.resolved);
                if excluded(exclude, rel, e.is_dir())? {
                    i = self.subtree_end[i];
                    continue;
                }
                let (m, partial) = prefix_match(&pattern, rel);
                let whole = (m && !partial) || (deep && full.matches_or_parent_matches(rel)?);
                if whole {
                    for &d in &pending[emitted_upto..] {
                        out.push(Placed {
                            rel: strip_base(&self.entries[d].path, &p.resolved).to_string(),
                            entry: self.entries[d].clone(),
                        });
                    }
                    emitted_upto = pending.len();
                    out.push(Placed {
                        rel: rel.to_string(),
                        entry: e.clone(),
                    });
                    // Everything below a match is copied (minus exclusions).
                    let end_i = self.subtree_end[i];
                    let mut k = i + 1;
                    while k < end_i {
                        let c = &self.entries[k];
                        let crel = strip_base(&c.path, &p.resolved);
                        if excluded(exclude, crel, c.is_dir())? {
                            k = self.subtree_end[k];
                            continue;
                        }
                        out.push(Placed {
                            rel: crel.to_string(),
                            entry: c.clone(),
                        });
                        k += 1;
                    }
                    i = end_i;
                    continue;
                }
                if e.is_dir() && ((m && partial) || deep) {
                    pending.push(i);
                    i += 1;
                    continue;
                }
                i = self.subtree_end[i];
            }
        }
        if required && out.is_empty() {
            let missing = gopath::join_root(&format!("{pivot}/{pattern}"));
            if self.resolve(&missing, false)?.1.is_none() {
                return Err(ContextError::NotFound { path: missing });
            }
        }
        Ok(out)
    }

    /// The digest of placed entries (for cache keys): per entry its destination path and its
    /// node without contents (the contents are entries of their own). Reads only files not
    /// hashed before by this view and not answered by `cache`.
    pub fn placed_digest(
        &self,
        placed: &[Placed],
        cache: &StatCache,
    ) -> Result<Digest, ContextError> {
        let mut idx = Vec::with_capacity(placed.len());
        for p in placed {
            idx.push(
                self.index_of(&p.entry.resolved)
                    .ok_or_else(|| ContextError::NotFound {
                        path: format!("/{}", p.entry.resolved),
                    })?,
            );
        }
        let files: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| !self.entries[i].is_dir())
            .collect();
        self.ensure_content(&files, cache)?;
        self.ensure_xattrs(&idx)?;
        let mut enc = Enc::new(b"strata.context.placed\0");
        enc.u64(placed.len() as u64);
        for (p, &i) in placed.iter().zip(&idx) {
            enc.bytes(p.rel.as_bytes());
            self.encode_fields(&mut enc, i);
        }
        Ok(enc.finish())
    }
}

/// `path` relative to `base` (both relative to the view root).
fn strip_base<'a>(path: &'a str, base: &str) -> &'a str {
    if base.is_empty() {
        path
    } else {
        path.get(base.len() + 1..).unwrap_or(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matching_is_fsutils() {
        assert_eq!(prefix_match("foo", "foo"), (true, false));
        assert_eq!(prefix_match("foo/bar/baz", "foo"), (true, true));
        assert_eq!(prefix_match("foo/bar/baz", "foo/bax"), (false, true));
        assert_eq!(prefix_match("f*", "foo"), (true, false));
        assert_eq!(prefix_match("*/bar/baz", "foo/bar"), (true, true));
        assert_eq!(prefix_match("*/*/baz", "foo/bar/baz"), (true, false));
    }

    fn view(files: &[&str]) -> (tempfile::TempDir, ContextView) {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f.as_bytes()).unwrap();
        }
        let v = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
        (dir, v)
    }

    fn rels(p: &[Placed]) -> Vec<&str> {
        p.iter().map(|p| p.rel.as_str()).collect()
    }

    #[test]
    fn parents_keep_the_path_below_the_pivot() {
        let (_d, v) = view(&["a/b/f", "a/b/g", "a/c/f", "x/y/f"]);
        let none = PatternMatcher::new(&[] as &[&str]).unwrap();
        assert_eq!(
            rels(&v.select_parents("a/b/f", &none).unwrap()),
            ["a", "a/b", "a/b/f"]
        );
        assert_eq!(
            rels(&v.select_parents("./a/*/f", &none).unwrap()),
            ["a", "a/b", "a/b/f", "a/c", "a/c/f"]
        );
        assert_eq!(
            rels(&v.select_parents("x/./y/f", &none).unwrap()),
            ["y", "y/f"]
        );
        assert_eq!(
            rels(&v.select_parents("a/b", &none).unwrap()),
            ["a", "a/b", "a/b/f", "a/b/g"]
        );
        assert_eq!(
            rels(&v.select_parents("**/f", &none).unwrap()),
            ["a", "a/b", "a/b/f", "a/c", "a/c/f", "x", "x/y", "x/y/f"]
        );
        let err = v.select_parents("a/nope", &none).unwrap_err();
        assert_eq!(err.to_string(), "\"/a/nope\": not found");
        assert!(v.select_parents("a/*.none", &none).unwrap().is_empty());
    }

    #[test]
    fn exclusions_are_relative_to_the_source() {
        let (_d, v) = view(&["s/a.txt", "s/b.log", "s/sub/c.txt", "s/sub/keep.txt"]);
        let src = v.select(&["s".to_string()]).unwrap().remove(0);
        let ex = PatternMatcher::new(&["*.txt"]).unwrap();
        assert_eq!(
            rels(&v.contents_excluding(&src, &ex).unwrap()),
            ["b.log", "sub", "sub/c.txt", "sub/keep.txt"]
        );
        let ex = PatternMatcher::new(&["sub", "!sub/keep.txt"]).unwrap();
        assert_eq!(
            rels(&v.contents_excluding(&src, &ex).unwrap()),
            ["a.txt", "b.log", "sub", "sub/keep.txt"]
        );
        let ex = PatternMatcher::new(&["**/*.txt"]).unwrap();
        assert_eq!(
            rels(&v.contents_excluding(&src, &ex).unwrap()),
            ["b.log", "sub"]
        );
    }

    #[test]
    fn placed_digest_follows_what_is_placed() {
        let (_d, v) = view(&["s/a.txt", "s/b.log"]);
        let cache = StatCache::new();
        let src = v.select(&["s".to_string()]).unwrap().remove(0);
        let all = v
            .contents_excluding(&src, &PatternMatcher::new(&[] as &[&str]).unwrap())
            .unwrap();
        let some = v
            .contents_excluding(&src, &PatternMatcher::new(&["*.log"]).unwrap())
            .unwrap();
        let d_all = v.placed_digest(&all, &cache).unwrap();
        let d_some = v.placed_digest(&some, &cache).unwrap();
        assert_ne!(d_all, d_some);
        assert_eq!(d_all, v.placed_digest(&all, &cache).unwrap());
    }
}
