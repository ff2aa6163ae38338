//! Decoding of exec-form arguments with Go's `encoding/json` semantics.
//!
//! BuildKit unmarshals `[ ... ]` into `[]any`: any JSON syntax error (or a number out of
//! float64 range) makes it fall back to the shell form, while valid JSON holding a
//! non-string element is a hard error. Mirroring Go's rules (only ` \t\r\n` whitespace, lone
//! surrogates become U+FFFD, depth limit 10000) keeps that split exact.

/// Why a text is not a JSON array of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not valid JSON for Go (BuildKit falls back to the shell form).
    Invalid,
    /// Valid JSON, but some element is not a string (BuildKit refuses the instruction).
    NotStringArray,
}

/// Go's `maxNestingDepth` in `encoding/json`'s scanner.
const MAX_DEPTH: usize = 10_000;

/// Decodes `text` (which must start with `[`) as a JSON array of strings.
pub(crate) fn parse_string_array(text: &str) -> Result<Vec<String>, JsonError> {
    let mut p = Scanner {
        s: text,
        b: text.as_bytes(),
        i: 0,
        overflow: false,
    };
    let elems = p.top_array().ok_or(JsonError::Invalid)?;
    if p.overflow {
        return Err(JsonError::Invalid);
    }
    elems
        .into_iter()
        .map(|e| e.ok_or(JsonError::NotStringArray))
        .collect()
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// A number too large for float64 was seen: Go's Unmarshal then fails.
    overflow: bool,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The top-level array: one entry per element, `None` for non-string elements.
    fn top_array(&mut self) -> Option<Vec<Option<String>>> {
        self.ws();
        self.eat(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.eat(b']').is_none() {
            loop {
                self.ws();
                if self.peek()? == b'"' {
                    out.push(Some(self.string()?));
                } else {
                    self.value()?;
                    out.push(None);
                }
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.ws();
        (self.i == self.b.len()).then_some(out)
    }

    /// Validates one value without recursion (an explicit stack of open containers).
    fn value(&mut self) -> Option<()> {
        let mut stack: Vec<u8> = Vec::new();
        loop {
            // Expecting a value.
            self.ws();
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                open @ (b'[' | b'{') => {
                    self.i += 1;
                    stack.push(open);
                    // The enclosing top-level array counts towards Go's depth.
                    if stack.len() + 1 > MAX_DEPTH {
                        return None;
                    }
                    self.ws();
                    if open == b'[' {
                        if self.eat(b']').is_none() {
                            continue;
                        }
                    } else if self.eat(b'}').is_none() {
                        self.key()?;
                        continue;
                    }
                    stack.pop();
                }
                _ => return None,
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&top) = stack.last() else {
                    return Some(());
                };
                self.ws();
                match (top, self.peek()?) {
                    (_, b',') => {
                        self.i += 1;
                        if top == b'{' {
                            self.ws();
                            self.key()?;
                        }
                        break;
                    }
                    (b'[', b']') | (b'{', b'}') => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.ws();
        self.eat(b':')
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word.as_bytes()).then(|| self.i = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let n: f64 = self.s.get(start..self.i)?.parse().ok()?;
        if n.is_infinite() {
            self.overflow = true;
        }
        Some(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }

    /// A string starting at the opening quote, decoded.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    out.push_str(self.s.get(run..self.i)?);
                    self.i += 1;
                    return Some(out);
                }
                0..=0x1f => return None,
                b'\\' => {
                    out.push_str(self.s.get(run..self.i)?);
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e as char),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return None,
                    }
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    /// The rune of a `\uXXXX` escape (the `\u` already consumed), pairing surrogates as Go.
    fn unicode_escape(&mut self) -> Option<char> {
        let r = self.hex4(self.i)?;
        self.i += 4;
        if !(0xD800..0xE000).contains(&r) {
            return char::from_u32(r);
        }
        if (0xD800..0xDC00).contains(&r) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
            if let Some(lo) = self.hex4(self.i + 2) {
                if (0xDC00..0xE000).contains(&lo) {
                    self.i += 6;
                    return char::from_u32(0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00));
                }
            }
        }
        Some('\u{fffd}')
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_string_array as p, JsonError};

    #[test]
    fn strings() {
        assert_eq!(p(r#"[ "a", "b" ]"#), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(p("[]"), Ok(vec![]));
        assert_eq!(
            p(r#"["\" \\ \/ \b \f \n \r \t \u0000"]"#).unwrap()[0],
            "\" \\ / \u{8} \u{c} \n \r \t \0"
        );
        assert_eq!(
            p(r#"["\ud83d\ude00", "\ud800x", "\udc00"]"#).unwrap(),
            vec!["😀", "\u{fffd}x", "\u{fffd}"]
        );
    }

    #[test]
    fn invalid_json_falls_back() {
        for t in [
            "['a']",
            r#"["a""#,
            r#"["a",]"#,
            r#"["a"] x"#,
            "[\"a\u{b}\"]",
            "[\"\t\"]",
            r#"[01]"#,
            r#"["a", {b}]"#,
            r#"[1e400]"#,
            r#"["a", [1e999]]"#,
            "[\u{a0}\"a\"]",
            r#"["\x"]"#,
        ] {
            assert_eq!(p(t), Err(JsonError::Invalid), "{t}");
        }
    }

    #[test]
    fn non_strings_are_refused() {
        for t in [
            r#"["a", 1]"#,
            "[null]",
            r#"[["a"]]"#,
            r#"[{"a": [1, {}]}, "b"]"#,
            "[true]",
            "[-0.5e+3]",
        ] {
            assert_eq!(p(t), Err(JsonError::NotStringArray), "{t}");
        }
    }

    #[test]
    fn depth_limit() {
        let deep = format!("[{}{}]", "[".repeat(9_999), "]".repeat(9_999));
        assert_eq!(p(&deep), Err(JsonError::NotStringArray));
        let deeper = format!("[{}{}]", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(p(&deeper), Err(JsonError::Invalid));
    }
}
