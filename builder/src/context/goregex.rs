//! Go `regexp` syntax (RE2, Perl flags) for the expressions patternmatcher generates,
//! re-emitted as an equivalent Rust `regex`.
//!
//! patternmatcher turns an ignore pattern into Go regexp source text and lets Go parse it, so
//! pattern characters it passes through unchanged (`^`, `[...]` contents, `\` escapes) take
//! Go's regexp meaning: `[[:alpha:]]` is a POSIX class, `\d` a digit, `\Q` starts literal text,
//! `[Local-Only]` is an invalid range. Rust's syntax differs in exactly such places (nested
//! classes, Unicode `\d` and `\b`), so the text is parsed here with Go's rules into a small
//! tree and printed in an unambiguous Rust form (every character as `\x{..}`).

use regex::Regex;

/// The Go source text does not compile (Go's `regexp.Compile` would fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRegex;

type Res<T> = Result<T, InvalidRegex>;

#[derive(Debug, Clone)]
enum Item {
    Range(u32, u32),
    /// A one-letter Unicode general category (`\pL`), possibly negated (`\PL`).
    Category(char, bool),
}

#[derive(Debug, Clone)]
enum Node {
    Lit(u32),
    Class(Vec<Item>, bool),
    AnyNotNl,
    BeginText,
    EndText,
    WordBoundary(bool),
    /// Alternatives, each a sequence.
    Group(Vec<Vec<Node>>),
    /// `min` to `max` (unbounded: `None`) repetitions.
    Repeat(Box<Node>, u32, Option<u32>),
}

/// Applies a repetition to the last node of `seq`; Go refuses a repetition of nothing and,
/// with Perl syntax, a repetition directly after another (`a**`). A `?` after the operator
/// (non-greedy) does not change what matches and is skipped.
fn repeat_op<'t>(
    seq: &mut Vec<Node>,
    after: &'t [u8],
    min: u32,
    max: Option<u32>,
    last_repeat: bool,
) -> Res<&'t [u8]> {
    let after = after.strip_prefix(b"?").unwrap_or(after);
    if last_repeat {
        return Err(InvalidRegex);
    }
    let sub = seq.pop().ok_or(InvalidRegex)?;
    seq.push(Node::Repeat(Box::new(sub), min, max));
    Ok(after)
}

/// Go's `parseInt` for repeat counts: no leading zeros; huge values saturate (and fail the
/// size check).
fn parse_int(s: &[u8]) -> Option<(u32, &[u8])> {
    if !s.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if s.len() >= 2 && s[0] == b'0' && s[1].is_ascii_digit() {
        return None;
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut n: u32 = 0;
    for &d in &s[..digits] {
        if n >= 100_000_000 {
            n = u32::MAX;
            break;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    Some((n, &s[digits..]))
}

/// Go's `parseRepeat`: `{n}`, `{n,}` or `{n,m}` at the start of `s`; `None` when `s` does not
/// have that shape (then '{' is a literal).
fn parse_repeat(s: &[u8]) -> Option<(u32, Option<u32>, &[u8])> {
    let (min, s) = parse_int(s.strip_prefix(b"{")?)?;
    let (max, s) = match s.first()? {
        b',' => {
            let s = &s[1..];
            if s.first()? == &b'}' {
                (None, s)
            } else {
                let (m, s) = parse_int(s)?;
                (Some(m), s)
            }
        }
        _ => (Some(min), s),
    };
    let rest = s.strip_prefix(b"}")?;
    Some((min, max, rest))
}

/// Compiles Go regexp source `src` (flags `regexp.Compile` uses: Perl syntax, `^`/`$` at text
/// ends, `.` not matching `\n`) into a Rust regex with the same matches.
pub fn compile(src: &str) -> Res<Regex> {
    let nodes = Parser { t: src.as_bytes() }.parse()?;
    let mut out = String::with_capacity(src.len() * 4);
    for n in &nodes {
        emit(n, &mut out);
    }
    Regex::new(&out).map_err(|_| InvalidRegex)
}

struct Parser<'a> {
    t: &'a [u8],
}

fn next_rune(t: &[u8]) -> Res<(u32, &[u8])> {
    let (r, n) = super::gopath::decode_rune(t);
    if n == 0 || (r == 0xFFFD && n == 1) {
        return Err(InvalidRegex);
    }
    Ok((r, &t[n..]))
}

fn unhex(c: u32) -> Option<u32> {
    char::from_u32(c).and_then(|c| c.to_digit(16))
}

const PERL_D: &[(u32, u32)] = &[(0x30, 0x39)];
const PERL_S: &[(u32, u32)] = &[(0x9, 0xa), (0xc, 0xd), (0x20, 0x20)];
const PERL_W: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

fn posix_group(name: &str) -> Option<&'static [(u32, u32)]> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
        "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
        "ascii" => &[(0x0, 0x7f)],
        "blank" => &[(0x9, 0x9), (0x20, 0x20)],
        "cntrl" => &[(0x0, 0x1f), (0x7f, 0x7f)],
        "digit" => PERL_D,
        "graph" => &[(0x21, 0x7e)],
        "lower" => &[(0x61, 0x7a)],
        "print" => &[(0x20, 0x7e)],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "space" => &[(0x9, 0xd), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5a)],
        "word" => PERL_W,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// Appends `ranges`, or their complement over all code points when `negated`.
fn append_group(items: &mut Vec<Item>, ranges: &[(u32, u32)], negated: bool) {
    if !negated {
        items.extend(ranges.iter().map(|&(l, h)| Item::Range(l, h)));
        return;
    }
    let mut next = 0u32;
    for &(l, h) in ranges {
        if l > next {
            items.push(Item::Range(next, l - 1));
        }
        next = h + 1;
    }
    if next <= 0x10FFFF {
        items.push(Item::Range(next, 0x10FFFF));
    }
}

fn perl_group(t: &[u8]) -> Option<(&'static [(u32, u32)], bool)> {
    if t.len() < 2 || t[0] != b'\\' {
        return None;
    }
    Some(match t[1] {
        b'd' => (PERL_D, false),
        b'D' => (PERL_D, true),
        b's' => (PERL_S, false),
        b'S' => (PERL_S, true),
        b'w' => (PERL_W, false),
        b'W' => (PERL_W, true),
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    fn parse(mut self) -> Res<Vec<Node>> {
        // One frame per open group, each a list of alternatives (the last one being built).
        let mut frames: Vec<Vec<Vec<Node>>> = vec![vec![Vec::new()]];
        let mut last_repeat = false;
        while !self.t.is_empty() {
            let mut repeat = false;
            let frame = frames.len() - 1;
            let cur = frames[frame].len() - 1;
            let seq = &mut frames[frame][cur];
            match self.t[0] {
                b'(' => {
                    if self.t.get(1) == Some(&b'?') {
                        // Flag groups cannot be generated ('(' is always escaped).
                        return Err(InvalidRegex);
                    }
                    frames.push(vec![Vec::new()]);
                    self.t = &self.t[1..];
                }
                b')' => {
                    if frames.len() < 2 {
                        return Err(InvalidRegex);
                    }
                    let alts = frames.pop().unwrap_or_default();
                    let outer = frames.len() - 1;
                    let last = frames[outer].len() - 1;
                    frames[outer][last].push(Node::Group(alts));
                    self.t = &self.t[1..];
                }
                b'|' => {
                    frames[frame].push(Vec::new());
                    self.t = &self.t[1..];
                }
                b'^' => {
                    seq.push(Node::BeginText);
                    self.t = &self.t[1..];
                }
                b'$' => {
                    seq.push(Node::EndText);
                    self.t = &self.t[1..];
                }
                b'.' => {
                    seq.push(Node::AnyNotNl);
                    self.t = &self.t[1..];
                }
                b'[' => {
                    let node = self.parse_class()?;
                    seq.push(node);
                }
                op @ (b'*' | b'+' | b'?') => {
                    let (min, max) = match op {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.t = repeat_op(seq, &self.t[1..], min, max, last_repeat)?;
                    repeat = true;
                }
                b'{' => match parse_repeat(self.t) {
                    Some((min, max, rest)) => {
                        let too_big = |n: u32| n > 1000;
                        if too_big(min) || max.is_some_and(|m| too_big(m) || min > m) {
                            return Err(InvalidRegex);
                        }
                        self.t = repeat_op(seq, rest, min, max, last_repeat)?;
                        repeat = true;
                    }
                    None => {
                        seq.push(Node::Lit(u32::from(b'{')));
                        self.t = &self.t[1..];
                    }
                },
                b'\\' => self.parse_backslash(seq)?,
                _ => {
                    let (c, rest) = next_rune(self.t)?;
                    seq.push(Node::Lit(c));
                    self.t = rest;
                }
            }
            last_repeat = repeat;
        }
        if frames.len() != 1 {
            return Err(InvalidRegex);
        }
        Ok(vec![Node::Group(frames.pop().unwrap_or_default())])
    }

    /// A backslash sequence outside a class, pushed onto `seq`. `\Q...\E` pushes its
    /// characters one by one (a following repetition applies to the last one, as in Go).
    fn parse_backslash(&mut self, seq: &mut Vec<Node>) -> Res<()> {
        let t = self.t;
        if t.len() >= 2 {
            let simple = match t[1] {
                b'A' => Some(Node::BeginText),
                b'b' => Some(Node::WordBoundary(true)),
                b'B' => Some(Node::WordBoundary(false)),
                b'z' => Some(Node::EndText),
                b'C' => return Err(InvalidRegex),
                b'Q' => {
                    // Everything up to \E (or the end, including a generated '$') is literal.
                    let body = &t[2..];
                    let (mut lit, rest) = match body.windows(2).position(|w| w == b"\\E") {
                        Some(i) => (&body[..i], &body[i + 2..]),
                        None => (body, &body[body.len()..]),
                    };
                    while !lit.is_empty() {
                        let (c, r) = next_rune(lit)?;
                        seq.push(Node::Lit(c));
                        lit = r;
                    }
                    self.t = rest;
                    return Ok(());
                }
                _ => None,
            };
            if let Some(n) = simple {
                seq.push(n);
                self.t = &t[2..];
                return Ok(());
            }
        }
        let mut items = Vec::new();
        if let Some(rest) = parse_unicode_class(t, &mut items)? {
            seq.push(Node::Class(items, false));
            self.t = rest;
            return Ok(());
        }
        if let Some((ranges, neg)) = perl_group(t) {
            append_group(&mut items, ranges, neg);
            seq.push(Node::Class(items, false));
            self.t = &t[2..];
            return Ok(());
        }
        let (c, rest) = parse_escape(t)?;
        seq.push(Node::Lit(c));
        self.t = rest;
        Ok(())
    }

    fn parse_class(&mut self) -> Res<Node> {
        let mut t = &self.t[1..];
        let mut negated = false;
        if t.first() == Some(&b'^') {
            negated = true;
            t = &t[1..];
        }
        let mut items = Vec::new();
        let mut first = true; // ']' is a plain character when first
        while t.is_empty() || t[0] != b']' || first {
            first = false;
            if t.len() > 2 && t[0] == b'[' && t[1] == b':' {
                if let Some(i) = t[2..].windows(2).position(|w| w == b":]") {
                    let name = std::str::from_utf8(&t[2..2 + i]).map_err(|_| InvalidRegex)?;
                    let (name, neg) = match name.strip_prefix('^') {
                        Some(n) => (n, true),
                        None => (name, false),
                    };
                    let ranges = posix_group(name).ok_or(InvalidRegex)?;
                    append_group(&mut items, ranges, neg);
                    t = &t[2 + i + 2..];
                    continue;
                }
            }
            if let Some(rest) = parse_unicode_class(t, &mut items)? {
                t = rest;
                continue;
            }
            if let Some((ranges, neg)) = perl_group(t) {
                append_group(&mut items, ranges, neg);
                t = &t[2..];
                continue;
            }
            let (lo, rest) = parse_class_char(t)?;
            t = rest;
            let mut hi = lo;
            // "[a-]" means 'a' or '-'.
            if t.len() >= 2 && t[0] == b'-' && t[1] != b']' {
                let (h, rest) = parse_class_char(&t[1..])?;
                t = rest;
                if h < lo {
                    return Err(InvalidRegex);
                }
                hi = h;
            }
            items.push(Item::Range(lo, hi));
        }
        self.t = &t[1..];
        Ok(Node::Class(items, negated))
    }
}

fn parse_class_char(t: &[u8]) -> Res<(u32, &[u8])> {
    if t.is_empty() {
        return Err(InvalidRegex); // missing ']'
    }
    if t[0] == b'\\' {
        return parse_escape(t);
    }
    next_rune(t)
}

/// `\pX` / `\PX`: a Unicode class. Returns the rest when present; braces never reach here
/// (patternmatcher escapes '{'), so only one-letter names occur.
fn parse_unicode_class<'t>(t: &'t [u8], items: &mut Vec<Item>) -> Res<Option<&'t [u8]>> {
    if t.len() < 2 || t[0] != b'\\' || (t[1] != b'p' && t[1] != b'P') {
        return Ok(None);
    }
    let negated = t[1] == b'P';
    let (c, rest) = next_rune(&t[2..])?;
    if c == u32::from(b'{') {
        // Go would read a braced name; keep the one shape that can occur valid.
        let body = &t[3..];
        let end = body.iter().position(|&b| b == b'}').ok_or(InvalidRegex)?;
        let name = std::str::from_utf8(&body[..end]).map_err(|_| InvalidRegex)?;
        let (name, flip) = match name.strip_prefix('^') {
            Some(n) => (n, true),
            None => (name, false),
        };
        let cat = one_letter_category(name)?;
        items.push(Item::Category(cat, negated != flip));
        return Ok(Some(&body[end + 1..]));
    }
    let name = char::from_u32(c).map(String::from).unwrap_or_default();
    let cat = one_letter_category(&name)?;
    items.push(Item::Category(cat, negated));
    Ok(Some(rest))
}

fn one_letter_category(name: &str) -> Res<char> {
    match name {
        "C" | "L" | "M" | "N" | "P" | "S" | "Z" => name.chars().next().ok_or(InvalidRegex),
        _ => Err(InvalidRegex),
    }
}

/// Go's `parseEscape`: `t` starts with a backslash.
fn parse_escape(t: &[u8]) -> Res<(u32, &[u8])> {
    let t = &t[1..];
    if t.is_empty() {
        return Err(InvalidRegex);
    }
    let (c, mut t) = next_rune(t)?;
    let is_octal = |b: Option<&u8>| matches!(b, Some(b'0'..=b'7'));
    match c {
        0x31..=0x37 if !is_octal(t.first()) => Err(InvalidRegex), // a backreference
        0x30..=0x37 => {
            let mut r = c - 0x30;
            for _ in 1..3 {
                if !is_octal(t.first()) {
                    break;
                }
                r = r * 8 + u32::from(t[0] - b'0');
                t = &t[1..];
            }
            Ok((r, t))
        }
        0x78 /* x */ => {
            let (c, rest) = next_rune(t).map_err(|_| InvalidRegex)?;
            t = rest;
            if c == u32::from(b'{') {
                let mut r = 0u32;
                let mut n = 0;
                loop {
                    let (c, rest) = next_rune(t)?;
                    t = rest;
                    if c == u32::from(b'}') {
                        break;
                    }
                    r = r * 16 + unhex(c).ok_or(InvalidRegex)?;
                    if r > 0x10FFFF {
                        return Err(InvalidRegex);
                    }
                    n += 1;
                }
                return if n == 0 { Err(InvalidRegex) } else { Ok((r, t)) };
            }
            let x = unhex(c);
            let (c2, rest) = next_rune(t)?;
            match (x, unhex(c2)) {
                (Some(x), Some(y)) => Ok((x * 16 + y, rest)),
                _ => Err(InvalidRegex),
            }
        }
        0x61 => Ok((0x07, t)),
        0x66 => Ok((0x0c, t)),
        0x6e => Ok((0x0a, t)),
        0x72 => Ok((0x0d, t)),
        0x74 => Ok((0x09, t)),
        0x76 => Ok((0x0b, t)),
        c if c < 0x80 && !(char::from_u32(c).is_some_and(|c| c.is_ascii_alphanumeric())) => {
            Ok((c, t))
        }
        _ => Err(InvalidRegex),
    }
}

const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";

fn push_char(out: &mut String, c: u32) {
    out.push_str(&format!("\\x{{{c:X}}}"));
}

/// Rust class items for one Go item; surrogates are cut out (text never contains them).
fn emit_item(item: &Item, out: &mut String) -> bool {
    match *item {
        Item::Range(lo, hi) => {
            let mut wrote = false;
            for (l, h) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
                if l <= h {
                    push_char(out, l);
                    out.push('-');
                    push_char(out, h);
                    wrote = true;
                }
            }
            wrote
        }
        Item::Category('C', negated) => {
            // Go's C is Cc|Cf|Co|Cs (not unassigned code points, unlike Rust's \pC).
            out.push_str(if negated {
                r"[^\p{Cc}\p{Cf}\p{Co}]"
            } else {
                r"\p{Cc}\p{Cf}\p{Co}"
            });
            true
        }
        Item::Category(c, negated) => {
            out.push_str(if negated { "\\P{" } else { "\\p{" });
            out.push(c);
            out.push('}');
            true
        }
    }
}

fn emit(node: &Node, out: &mut String) {
    match node {
        Node::Lit(c) => {
            if char::from_u32(*c).is_some() {
                push_char(out, *c);
            } else {
                out.push_str(NEVER);
            }
        }
        Node::Class(items, negated) => {
            let mut body = String::new();
            let mut any = false;
            for it in items {
                any |= emit_item(it, &mut body);
            }
            match (any, negated) {
                (false, false) => out.push_str(NEVER),
                (false, true) => out.push_str(r"[\x{0}-\x{10FFFF}]"),
                (true, _) => {
                    out.push('[');
                    if *negated {
                        out.push('^');
                    }
                    out.push_str(&body);
                    out.push(']');
                }
            }
        }
        Node::AnyNotNl => out.push('.'),
        Node::BeginText => out.push_str(r"\A"),
        Node::EndText => out.push_str(r"\z"),
        Node::WordBoundary(true) => out.push_str(r"(?-u:\b)"),
        Node::WordBoundary(false) => out.push_str(r"(?-u:\B)"),
        Node::Group(alts) => {
            out.push_str("(?:");
            for (k, seq) in alts.iter().enumerate() {
                if k > 0 {
                    out.push('|');
                }
                for n in seq {
                    emit(n, out);
                }
            }
            out.push(')');
        }
        Node::Repeat(sub, min, max) => {
            out.push_str("(?:");
            emit(sub, out);
            out.push(')');
            match max {
                None => out.push_str(&format!("{{{min},}}")),
                Some(m) => out.push_str(&format!("{{{min},{m}}}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::compile;

    fn m(re: &str, s: &str) -> bool {
        compile(re).unwrap().is_match(s)
    }

    #[test]
    fn go_constructs() {
        assert!(m(r"^[[:alpha:]]$", "q"));
        assert!(!m(r"^[[:alpha:]]$", "1"));
        assert!(m(r"^\d$", "7"));
        assert!(!m(r"^\d$", "٣"));
        assert!(m(r"^[[^/]*]$", "[^]"));
        assert!(m(r"^\Qa[^/]*$", "a[^/]*$y"));
        assert!(!m(r"^\Qa[^/]*$", "xa[^/]*$"));
        assert!(m(r"^\pL$", "é"));
        assert!(m(r"^a\b", "a-"));
        assert!(m(r"^\x41\101$", "AA"));
        assert!(compile(r"^[Local-Only]$").is_err());
        assert!(compile(r"^\e$").is_err());
        assert!(compile(r"^\1$").is_err());
        assert!(compile(r"^\é$").is_err());
        assert!(compile(r"^[[:foo:]]$").is_err());
        assert!(m(r"^(.*/)?a$", "x/y/a"));
        assert!(!m(r"^(.*/)?a$", "x\n/a"));
        assert!(m(r"^*a", "a"));
    }
}
