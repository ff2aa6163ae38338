//! Turning one logical instruction line into a [`Node`]: keyword, flags and arguments,
//! with the per-instruction argument rules of BuildKit's `line_parsers.go`.

use std::borrow::Cow;

use super::ast::{Arg, Node};
use super::error::ParseErrorKind;
use super::go_json::{parse_string_array, JsonError};

/// Go's `reWhitespace` class `[\t\v\f\r ]`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Go's `unicode.IsSpace(rune(b))` applied to a single byte (BuildKit does this).
fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// `s[pos..]`, replacing a broken leading sequence where a byte-wise scan cut a character.
fn tail(s: &str, pos: usize) -> Cow<'_, str> {
    match s.get(pos..) {
        Some(t) => Cow::Borrowed(t),
        None => String::from_utf8_lossy(&s.as_bytes()[pos..]),
    }
}

/// `s[..pos]` with the same repair.
fn head(s: &str, pos: usize) -> String {
    match s.get(..pos) {
        Some(t) => t.to_string(),
        None => String::from_utf8_lossy(&s.as_bytes()[..pos]).into_owned(),
    }
}

/// Go's `regexp.Split(s, n)` with `[\t\v\f\r ]+` (`n == 0` means no limit).
fn split_re_space(s: &str, n: usize) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    let mut i = 0;
    while let Some(start) = s[i..].find(is_re_space).map(|p| p + i) {
        if n > 0 && out.len() == n - 1 {
            break;
        }
        let stop = s[start..]
            .find(|c| !is_re_space(c))
            .map_or(s.len(), |p| p + start);
        end = start;
        if stop != 0 {
            out.push(&s[beg..end]);
        }
        beg = stop;
        i = stop;
        if i >= s.len() {
            break;
        }
    }
    if end != s.len() {
        out.push(&s[beg..]);
    }
    out
}

/// Lower-cases like Go's `strings.ToLower` (simple case mapping).
pub(crate) fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .flat_map(|c| match c {
            '\u{130}' => 'i'.to_lowercase(),
            c => c.to_lowercase(),
        })
        .collect()
}

/// Builds the node of one logical line (continuations already joined).
pub(crate) fn node_from_line(
    line: &str,
    escape: char,
    prev_comments: Vec<String>,
) -> Result<Node, ParseErrorKind> {
    // ONBUILD nests the rest of its line; peel the prefixes in a loop rather than by
    // recursion, so `ONBUILD ONBUILD ...` up to the line-length limit cannot overflow.
    let mut outer: Vec<Node> = Vec::new();
    let mut current = line.to_string();
    let mut node = loop {
        let (cmd, flags, rest) = split_command(&current, escape);
        let keyword = go_lower(cmd);
        if keyword == "onbuild" && !rest.is_empty() {
            let rest = rest.into_owned();
            let mut parent = Node::default();
            parent.keyword = keyword;
            parent.original = std::mem::replace(&mut current, rest);
            parent.flags = flags;
            outer.push(parent);
            continue;
        }
        let (args, json) = leaf_args(&keyword, &rest, escape)?;
        let mut leaf = Node::default();
        leaf.keyword = keyword;
        leaf.flags = flags;
        leaf.args = args;
        leaf.json = json;
        break leaf;
    };
    node.original = current;
    while let Some(mut parent) = outer.pop() {
        parent.args = vec![Arg::Node(Box::new(node))];
        node = parent;
    }
    node.prev_comments = prev_comments;
    Ok(node)
}

/// The arguments of an instruction other than a non-empty ONBUILD.
fn leaf_args(keyword: &str, rest: &str, escape: char) -> Result<(Vec<Arg>, bool), ParseErrorKind> {
    Ok(match keyword {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(rest)?,
        "arg" => (words_to_args(parse_words(rest, escape)), false),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(rest)?,
        "env" => (parse_name_val(rest, "ENV", escape)?, false),
        "label" => (parse_name_val(rest, "LABEL", escape)?, false),
        "expose" | "from" => (parse_strings_whitespace_delimited(rest), false),
        "healthcheck" => parse_health_config(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => (parse_string(rest), false),
        // Unknown instructions keep one empty argument (BuildKit's parseIgnore); an empty
        // ONBUILD has none.
        "onbuild" => (Vec::new(), false),
        _ => (vec![Arg::Word(String::new())], false),
    })
}

/// Splits a line into keyword, flags and the rest (BuildKit's `splitCommand`).
pub(crate) fn split_command(line: &str, escape: char) -> (&str, Vec<String>, Cow<'_, str>) {
    let parts = split_re_space(line.trim(), 2);
    match parts.get(1) {
        Some(rest) => {
            let (args, flags) = extract_builder_flags(rest, escape);
            let args = match args {
                Cow::Borrowed(a) => Cow::Borrowed(a.trim()),
                Cow::Owned(a) => Cow::Owned(a.trim().to_string()),
            };
            (parts[0], flags, args)
        }
        None => (parts[0], Vec::new(), Cow::Borrowed("")),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// Leading `--flag` words and the remaining text. Byte-wise like BuildKit, which turns each
/// non-ASCII byte of a flag into the Latin-1 character of the same value.
pub(crate) fn extract_builder_flags(line: &str, escape: char) -> (Cow<'_, str>, Vec<String>) {
    let b = line.as_bytes();
    let esc = u8::try_from(escape).unwrap_or(b'\\');
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= b.len() {
        let mut ch = b.get(pos).copied().unwrap_or(0);
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || b.get(pos + 1) != Some(&b'-') {
                return (tail(line, pos), words);
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (tail(line, pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == esc {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            word.push(char::from(ch));
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == esc {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = b[pos];
        }
        word.push(char::from(ch));
        pos += 1;
    }
    (Cow::Borrowed(""), words)
}

/// Splits on whitespace outside quotes, keeping quotes and escapes (BuildKit's `parseWords`).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut chars = rest.chars();
    loop {
        let Some(mut ch) = chars.next() else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        };
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                // An escape at the very end is dropped.
                let Some(next) = chars.next() else { continue };
                word.push(ch);
                ch = next;
            }
            word.push(ch);
            continue;
        }
        // Phase::Quote: the quotes stay in the word.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            let Some(next) = chars.next() else {
                phase = Phase::Word;
                continue;
            };
            word.push(ch);
            ch = next;
        }
        word.push(ch);
    }
    words
}

fn words_to_args<I: IntoIterator<Item = S>, S: Into<String>>(words: I) -> Vec<Arg> {
    words.into_iter().map(|w| Arg::Word(w.into())).collect()
}

/// ENV and LABEL: `KEY value` (separator "") or `k=v ...` (separator "=").
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<Arg>, ParseErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_re_space(rest, 2);
        if parts.len() < 2 {
            return Err(ParseErrorKind::MissingValue(key.to_string()));
        }
        return Ok(words_to_args([parts[0], parts[1], ""]));
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ParseErrorKind::MissingEquals(word.clone()));
        };
        args.extend(words_to_args([k, v, "="]));
    }
    Ok(args)
}

fn parse_strings_whitespace_delimited(rest: &str) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    words_to_args(split_re_space(rest, 0))
}

fn parse_string(rest: &str) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    vec![Arg::Word(rest.to_string())]
}

fn parse_json(rest: &str) -> Result<Vec<Arg>, JsonError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonError::Invalid);
    }
    parse_string_array(rest).map(words_to_args)
}

/// Exec form when the text is a JSON string array, else the whole text as one argument.
fn parse_maybe_json(rest: &str) -> Result<(Vec<Arg>, bool), ParseErrorKind> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        Ok(args) => Ok((args, true)),
        Err(JsonError::NotStringArray) => Err(ParseErrorKind::NotStringArray),
        Err(JsonError::Invalid) => Ok((vec![Arg::Word(rest.to_string())], false)),
    }
}

/// Exec form when the text is a JSON string array, else whitespace-separated words.
fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<Arg>, bool), ParseErrorKind> {
    match parse_json(rest) {
        Ok(args) => Ok((args, true)),
        Err(JsonError::NotStringArray) => Err(ParseErrorKind::NotStringArray),
        Err(JsonError::Invalid) => Ok((parse_strings_whitespace_delimited(rest), false)),
    }
}

/// HEALTHCHECK: the type word (`CMD`, `NONE`, ...) then the command as for CMD.
fn parse_health_config(rest: &str) -> Result<(Vec<Arg>, bool), ParseErrorKind> {
    let b = rest.as_bytes();
    let sep = b.iter().position(|&c| is_space_byte(c)).unwrap_or(b.len());
    let next = b[sep..]
        .iter()
        .position(|&c| !is_space_byte(c))
        .map_or(b.len(), |p| p + sep);
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let (cmd, json) = parse_maybe_json(&tail(rest, next))?;
    let mut args = vec![Arg::Word(head(rest, sep))];
    args.extend(cmd);
    Ok((args, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_like_buildkit() {
        // BuildKit's TestParseWords.
        let cases: [(&str, &[&str]); 8] = [
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            (r#"foo bar "abc xyz""#, &["foo", "bar", r#""abc xyz""#]),
            ("àöû", &["àöû"]),
            (r#"föo bàr "âbc xÿz""#, &["föo", "bàr", r#""âbc xÿz""#]),
        ];
        for (input, expect) in cases {
            assert_eq!(parse_words(input, '\\'), expect, "{input}");
        }
        assert_eq!(parse_words("a='' b", '\\'), ["a=''", "b"]);
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
    }

    #[test]
    fn regexp_split() {
        assert_eq!(split_re_space("a  b\tc", 0), ["a", "b", "c"]);
        assert_eq!(split_re_space("a  b\tc", 2), ["a", "b\tc"]);
        assert_eq!(split_re_space("abc", 2), ["abc"]);
        assert_eq!(split_re_space("a ", 0), ["a", ""]);
        assert_eq!(split_re_space("", 2), [""]);
        assert_eq!(split_re_space("a\u{a0}b", 0), ["a\u{a0}b"]);
    }

    #[test]
    fn flags() {
        let (rest, f) = extract_builder_flags("--a=1 --b='x y' -- --c foo", '\\');
        assert_eq!(
            (&*rest, f),
            (" --c foo", vec!["--a=1".to_string(), "--b=x y".into()])
        );
        let (rest, f) = extract_builder_flags("--from=é x", '\\');
        assert_eq!((&*rest, f), ("x", vec!["--from=Ã©".to_string()]));
        let (rest, f) = extract_builder_flags("-x --y", '\\');
        assert_eq!((&*rest, f.len()), ("-x --y", 0));
        let (rest, f) = extract_builder_flags("--", '\\');
        assert_eq!((&*rest, f.len()), ("", 0));
    }

    #[test]
    fn split_commands() {
        let (c, f, r) = split_command("  copy --from=a   x y  ", '\\');
        assert_eq!((c, f, &*r), ("copy", vec!["--from=a".to_string()], "x y"));
        assert_eq!(go_lower("RUN\u{130}"), "runi");
    }
}
