//! Shell patterns as Go's `path.Match` reads them, which docker uses for
//! `--filter reference=PATTERN`.
//!
//! `*` matches any run of non-`/` characters, `?` one non-`/` character,
//! `[...]` / `[^...]` a character class with ranges, and `\` escapes. A
//! malformed pattern is an error, even when the name already failed to match
//! earlier in the pattern, as in Go.

/// A malformed shell pattern (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct PatternError;

/// Whether the whole of `name` matches the shell `pattern`.
pub fn shell_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    // Bytes, not chars: literals are compared byte by byte like Go does, and
    // a failed comparison can stop in the middle of a UTF-8 sequence.
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest unless it crosses a '/'.
            return Ok(!name.contains(&b'/'));
        }
        let at_start = match_chunk(chunk, name);
        if let Ok(Some(t)) = at_start {
            // The last chunk must use up the name, or a star could still do it.
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        at_start?;
        if star {
            // Let the star swallow 1, 2, ... bytes, never a '/'.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if !pattern.is_empty() || t.is_empty() {
                        name = t;
                        continue 'pattern;
                    }
                }
                i += 1;
            }
        }
        // No match: still report a malformed rest of the pattern.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the following star-free chunk (stars inside
/// a class do not end it).
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&b| b == b'*').count();
    let pattern = &pattern[stars..];
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // A trailing lone '\' is reported by match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => return (stars > 0, &pattern[..i], &pattern[i..]),
            _ => {}
        }
        i += 1;
    }
    (stars > 0, pattern, &[])
}

/// Matches a star-free chunk against the start of `s`: `Some(rest)` on a
/// match, `None` on a mismatch. The whole chunk is always read, so that a
/// malformed class is reported even after a mismatch.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, PatternError> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = None;
                if !failed {
                    let (ch, n) = decode(s);
                    r = Some(ch);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = class_char(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    s = &s[decode(s).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(PatternError);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// Reads one possibly escaped character of a class. A class member may not
/// be `-` or `]` unescaped, and something must follow it (at least the `]`).
fn class_char(chunk: &[u8]) -> Result<(char, &[u8]), PatternError> {
    let mut chunk = match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(PatternError),
        Some(_) => chunk,
    };
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(PatternError);
        }
    }
    let (ch, n) = decode(chunk);
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(PatternError);
    }
    Ok((ch, rest))
}

/// Decodes the character at the start of `s` (non-empty), or U+FFFD and one
/// byte where the bytes are not valid UTF-8, as Go does.
fn decode(s: &[u8]) -> (char, usize) {
    for len in 1..=s.len().min(4) {
        if let Ok(text) = std::str::from_utf8(&s[..len]) {
            if let Some(ch) = text.chars().next() {
                return (ch, len);
            }
        }
    }
    (char::REPLACEMENT_CHARACTER, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match_basics() {
        let cases: &[(&str, &str, Result<bool, PatternError>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(PatternError)),
            ("[-]", "-", Err(PatternError)),
            ("[x-]", "x", Err(PatternError)),
            ("[x-]", "-", Err(PatternError)),
            ("[x-]", "z", Err(PatternError)),
            ("[-x]", "x", Err(PatternError)),
            ("[-x]", "-", Err(PatternError)),
            ("[-x]", "a", Err(PatternError)),
            ("\\", "a", Err(PatternError)),
            ("[a-b-c]", "a", Err(PatternError)),
            ("[", "a", Err(PatternError)),
            ("[^", "a", Err(PatternError)),
            ("[^bc", "a", Err(PatternError)),
            ("a[", "a", Err(PatternError)),
            ("a[", "ab", Err(PatternError)),
            ("a[", "x", Err(PatternError)),
            ("a/b[", "x", Err(PatternError)),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(shell_match(pattern, name), *want, "{pattern:?} vs {name:?}");
        }
    }
}
