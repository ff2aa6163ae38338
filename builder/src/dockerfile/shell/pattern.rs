//! The shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`.
//!
//! BuildKit turns a pattern into a Go regular expression (`*` -> `.*` or `.*?`, `?` -> `.`,
//! everything else literal, no bracket expressions) and runs Go's leftmost-first matcher.
//! Such an expression is only literals, "any character but newline" and stars, so instead
//! of a regex engine this module runs a small Pike VM over those three instructions with
//! the same leftmost-first priorities: same matches, linear time, no recursion.

use super::error::{ExpandErrorKind, PatternError};

/// What the Go scanner yields for "no more input" where a character is printed.
const EOF_CHAR: char = '\u{FFFD}';

/// Go's `text/scanner` skips a byte-order mark at the very start of its input.
const BOM: char = '\u{FEFF}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// Consume this exact character.
    Char(char, usize),
    /// Consume any character except `\n` (Go's `.` without the `s` flag).
    AnyNotNl(usize),
    /// Try the first branch, then the second (lower priority).
    Split(usize, usize),
    Match,
}

/// A compiled shell pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    prog: Vec<Inst>,
    anchored: bool,
}

impl Glob {
    /// Compiles `pattern`; `greedy` picks `.*` over `.*?` for `*`, `anchored` matches only
    /// at the start of the text.
    pub(crate) fn new(pattern: &str, greedy: bool, anchored: bool) -> Result<Self, PatternError> {
        let mut chars = pattern.chars().peekable();
        if chars.peek() == Some(&BOM) {
            chars.next();
        }
        let mut prog = Vec::with_capacity(pattern.len() + 1);
        while let Some(tok) = chars.next() {
            let here = prog.len();
            match tok {
                '*' => {
                    let (more, done) = (here + 1, here + 2);
                    prog.push(if greedy {
                        Inst::Split(more, done)
                    } else {
                        Inst::Split(done, more)
                    });
                    prog.push(Inst::AnyNotNl(here));
                }
                '?' => prog.push(Inst::AnyNotNl(here + 1)),
                '\\' => match chars.peek() {
                    // `\}` and `\/` are how `}` and `/` are written inside `${}`; the
                    // escape is not part of the pattern, the character is a literal.
                    Some('}' | '/') => {}
                    _ => match chars.next() {
                        Some(c @ ('*' | '?' | '\\')) => prog.push(Inst::Char(c, here + 1)),
                        other => {
                            return Err(PatternError::InvalidEscape(other.unwrap_or(EOF_CHAR)))
                        }
                    },
                },
                c => prog.push(Inst::Char(c, here + 1)),
            }
        }
        prog.push(Inst::Match);
        Ok(Self { prog, anchored })
    }

    /// The leftmost-first match in `hay` starting at or after `from`, as char indices.
    pub(crate) fn find_at(&self, hay: &[char], from: usize) -> Option<(usize, usize)> {
        let n = hay.len();
        if from > n || (self.anchored && from > 0) {
            return None;
        }
        let mut vm = Vm {
            prog: &self.prog,
            seen: vec![usize::MAX; self.prog.len()],
            stack: Vec::new(),
        };
        let mut clist: Vec<(usize, usize)> = Vec::new();
        let mut nlist: Vec<(usize, usize)> = Vec::new();
        let mut found = None;
        for p in from..=n {
            // A thread starting here has lower priority than those started earlier.
            if found.is_none() && (!self.anchored || p == 0) {
                vm.add(&mut clist, 0, p, p);
            }
            if clist.is_empty() && (found.is_some() || self.anchored) {
                break;
            }
            let ch = hay.get(p).copied();
            for &(pc, start) in &clist {
                match self.prog.get(pc) {
                    Some(Inst::Match) => {
                        // Everything after this thread has lower priority: drop it.
                        found = Some((start, p));
                        break;
                    }
                    Some(&Inst::Char(c, next)) if ch == Some(c) => {
                        vm.add(&mut nlist, next, start, p + 1)
                    }
                    Some(&Inst::AnyNotNl(next)) if ch.is_some_and(|c| c != '\n') => {
                        vm.add(&mut nlist, next, start, p + 1)
                    }
                    _ => {}
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
            nlist.clear();
        }
        found
    }
}

/// Thread bookkeeping: `seen[pc] == step` when `pc` is already on the list being built.
struct Vm<'a> {
    prog: &'a [Inst],
    seen: Vec<usize>,
    stack: Vec<usize>,
}

impl Vm<'_> {
    /// Adds the thread at `pc` and everything reachable through splits, in priority order.
    fn add(&mut self, list: &mut Vec<(usize, usize)>, pc: usize, start: usize, step: usize) {
        self.stack.push(pc);
        while let Some(pc) = self.stack.pop() {
            match self.seen.get_mut(pc) {
                Some(s) if *s != step => *s = step,
                _ => continue,
            }
            match self.prog.get(pc) {
                Some(&Inst::Split(first, second)) => {
                    self.stack.push(second);
                    self.stack.push(first);
                }
                Some(_) => list.push((pc, start)),
                None => {}
            }
        }
    }
}

fn invalid(pattern: &str, reason: PatternError) -> ExpandErrorKind {
    ExpandErrorKind::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    }
}

/// `${V#p}` / `${V##p}`: drops the shortest / longest prefix of `value` matching `pattern`.
pub(crate) fn trim_prefix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, ExpandErrorKind> {
    let glob = Glob::new(pattern, greedy, true).map_err(|e| invalid(pattern, e))?;
    let hay: Vec<char> = value.chars().collect();
    Ok(match glob.find_at(&hay, 0) {
        Some((_, end)) => hay.get(end..).unwrap_or_default().iter().collect(),
        None => value.to_string(),
    })
}

/// `${V%p}` / `${V%%p}`: like BuildKit, matches the reversed pattern against the reversed
/// value, so that the leftmost-first search finds the shortest / longest suffix.
pub(crate) fn trim_suffix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, ExpandErrorKind> {
    let reversed = trim_prefix(
        &reverse_pattern(pattern),
        &value.chars().rev().collect::<String>(),
        greedy,
    )?;
    Ok(reversed.chars().rev().collect())
}

/// Reverses a pattern but keeps each `\x` escape pair in order (`a\*c` -> `c\*a`).
pub(crate) fn reverse_pattern(pattern: &str) -> String {
    let src: Vec<char> = pattern.chars().collect();
    let mut out = src.clone();
    let n = src.len();
    let mut i = 0;
    while i < n {
        let at = n - 1 - i;
        match (src[i], src.get(i + 1)) {
            ('\\', Some(&next)) if at >= 1 => {
                out[at - 1] = '\\';
                out[at] = next;
                i += 2;
            }
            (c, _) => {
                out[at] = c;
                i += 1;
            }
        }
    }
    out.into_iter().collect()
}

/// `${V/p/r}`: replaces the first match of `pattern` with `replacement` taken literally.
pub(crate) fn replace_first(
    pattern: &str,
    value: &str,
    replacement: &str,
) -> Result<String, ExpandErrorKind> {
    let glob = Glob::new(pattern, true, false).map_err(|e| invalid(pattern, e))?;
    let hay: Vec<char> = value.chars().collect();
    Ok(match glob.find_at(&hay, 0) {
        Some((start, end)) => {
            let mut out: String = hay.iter().take(start).collect();
            out.push_str(replacement);
            out.extend(hay.iter().skip(end));
            out
        }
        None => value.to_string(),
    })
}

/// `${V//p/r}`: replaces every match as Go's `Regexp.ReplaceAllString` does, which also
/// expands `$0`/`${0}` in `replacement` to the match (other `$name`s to nothing, `$$` to `$`)
/// and skips an empty match right after a previous match.
pub(crate) fn replace_all(
    pattern: &str,
    value: &str,
    replacement: &str,
) -> Result<String, ExpandErrorKind> {
    let glob = Glob::new(pattern, true, false).map_err(|e| invalid(pattern, e))?;
    let hay: Vec<char> = value.chars().collect();
    let n = hay.len();
    let mut out = String::with_capacity(value.len());
    let (mut last_end, mut search) = (0, 0);
    while search <= n {
        let Some((start, end)) = glob.find_at(&hay, search) else {
            break;
        };
        out.extend(hay.get(last_end..start).unwrap_or_default());
        if end > last_end || start == 0 {
            let matched: String = hay.get(start..end).unwrap_or_default().iter().collect();
            expand_template(&mut out, replacement, &matched);
        }
        last_end = end;
        // Always advance by at least one character.
        let width = usize::from(search < n);
        search = if search + width > end {
            search + width
        } else if search + 1 > end {
            search + 1
        } else {
            end
        };
    }
    out.extend(hay.get(last_end..).unwrap_or_default());
    Ok(out)
}

/// Go's `Regexp.Expand` for an expression whose only group is the whole match.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with("$$") {
            out.push('$');
            rest = &rest[2..];
            continue;
        }
        match template_ref(&rest[1..]) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => {
                // Malformed reference: the `$` is literal.
                out.push('$');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// Parses the name after a `$` (`name` or `{name}`); returns it and the text after it.
fn template_ref(s: &str) -> Option<(&str, &str)> {
    let (body, braced) = match s.strip_prefix('{') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let len: usize = body
        .chars()
        .take_while(|&c| super::word::go_is_letter(c) || super::word::go_is_digit(c) || c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        after.strip_prefix('}').map(|after| (name, after))
    } else {
        Some((name, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &str, greedy: bool, anchored: bool, hay: &str) -> Option<(usize, usize)> {
        let hay: Vec<char> = hay.chars().collect();
        Glob::new(p, greedy, anchored).unwrap().find_at(&hay, 0)
    }

    #[test]
    fn reverse_pattern_keeps_escapes() {
        // Cases from BuildKit's TestReversePattern.
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern("\\\\b"), "b\\\\");
        assert_eq!(reverse_pattern(""), "");
        assert_eq!(reverse_pattern("\\"), "\\");
    }

    #[test]
    fn invalid_escapes() {
        // Cases from BuildKit's TestConvertShellPatternToRegex.
        for p in ["\\", "\\x", "\\\\\\"] {
            assert!(Glob::new(p, true, true).is_err(), "{p:?}");
        }
        assert_eq!(
            Glob::new("\\", true, true).unwrap_err(),
            PatternError::InvalidEscape(EOF_CHAR)
        );
        assert_eq!(
            Glob::new("a\\x", true, true).unwrap_err(),
            PatternError::InvalidEscape('x')
        );
    }

    #[test]
    fn special_characters_are_literal() {
        let p = "(()[]{\\}^$.\\*\\?|\\\\";
        let hay = "(()[]{}^$.*?|\\";
        assert_eq!(find(p, true, true, hay), Some((0, hay.chars().count())));
        assert_eq!(find(p, true, true, "x"), None);
    }

    #[test]
    fn leftmost_first_priorities() {
        assert_eq!(find("*", true, true, "abc"), Some((0, 3)));
        assert_eq!(find("*", false, true, "abc"), Some((0, 0)));
        assert_eq!(find("*b", false, true, "abab"), Some((0, 2)));
        assert_eq!(find("*b", true, true, "abab"), Some((0, 4)));
        assert_eq!(find("b*", true, false, "abab"), Some((1, 4)));
        assert_eq!(find("?", true, false, "\nx"), Some((1, 2)));
        // `.` never matches a newline, so a star stops at one.
        assert_eq!(find("*", true, true, "ab\ncd"), Some((0, 2)));
        assert_eq!(find("a*d", true, false, "ab\ncd ad"), Some((6, 8)));
        assert_eq!(find("", true, false, "abc"), Some((0, 0)));
        assert_eq!(find("x", true, true, "ax"), None);
    }

    #[test]
    fn byte_order_mark_at_pattern_start_is_skipped() {
        assert_eq!(find("\u{feff}a", true, true, "ab"), Some((0, 1)));
        assert_eq!(find("a\u{feff}", true, true, "ab"), None);
    }

    #[test]
    fn replace_all_like_go() {
        assert_eq!(replace_all("*", "ab", "x").unwrap(), "x");
        assert_eq!(replace_all("*", "a\nb", "x").unwrap(), "x\nx");
        assert_eq!(replace_all("", "ab", "-").unwrap(), "-a-b-");
        assert_eq!(replace_all("b", "abcb", "[$0]").unwrap(), "a[b]c[b]");
        assert_eq!(replace_all("b", "ab", "${0}$$$1$x${x$").unwrap(), "ab$${x$");
        assert_eq!(replace_all("b", "ab", "$00$0a$").unwrap(), "a$");
        assert_eq!(replace_first("b", "abb", "$0").unwrap(), "a$0b");
    }

    #[test]
    fn trims() {
        assert_eq!(trim_prefix("*x", "axbx", false).unwrap(), "bx");
        assert_eq!(trim_prefix("*x", "axbx", true).unwrap(), "");
        assert_eq!(trim_suffix("x*", "axbx", false).unwrap(), "axb");
        assert_eq!(trim_suffix("x*", "axbx", true).unwrap(), "a");
        assert_eq!(trim_suffix("한*", "가한나한다", true).unwrap(), "가");
    }
}
