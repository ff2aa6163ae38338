//! Heredoc detection: which words of an instruction line open a heredoc, and how.
//!
//! BuildKit finds heredocs by running its shell lexer over the line (raw quotes, raw
//! escapes, unset variables kept, escape always `\`) and matching each word against
//! `^(\d*)<<(-?)\s*([^<]*)$`. The lexer here reproduces exactly the parts of that lexer that
//! decide word boundaries with an empty environment, quirks included (e.g. a nested
//! `${x:-...}` resets the word being built, as BuildKit's shared buffer does).

use super::ast::Heredoc;
use super::error::ParseErrorKind;

/// Heredocs opened on `line`, in order. Lexing errors of the whole line mean "none", as in
/// BuildKit; errors re-lexing a delimiter word are reported.
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseErrorKind> {
    let words = Lexer::new(line, true, true).process().unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one word like `3<<-'EOF'` into a heredoc (content empty), if it is one.
pub(crate) fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseErrorKind> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    // Go's `\s` is ASCII-only and excludes \v.
    let rest = after.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    // strconv.ParseUint: empty gives 0 (error ignored), overflow gives the maximum.
    let fd = match &word[..digits] {
        "" => 0,
        d => d.parse::<u64>().unwrap_or(u64::MAX),
    };
    let lex_err = |reason: String| ParseErrorKind::HeredocWord {
        word: rest.to_string(),
        reason,
    };
    let words = Lexer::new(rest, false, false).process().map_err(lex_err)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = Lexer::new(rest, true, false).process().map_err(lex_err)?;
    if raw.len() != words.len() {
        return Err(ParseErrorKind::Other(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        )));
    }
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    let name = words.into_iter().next().unwrap_or_default();
    Ok(Some(Heredoc {
        expand: quotes(&name) == quotes(&raw[0]),
        name,
        file_descriptor: fd,
        chomp,
        content: String::new(),
    }))
}

/// Words being split, BuildKit's `wordsStruct`; the buffer lives in the lexer (shared).
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(buf, ch);
        }
    }

    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, buf: &mut String, s: &str) {
        for ch in s.chars() {
            self.add_char(buf, ch);
        }
    }

    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
        }
        self.words
    }
}

/// BuildKit's shell lexer, reduced to an empty environment with unset variables kept.
struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    words_buffer: String,
    /// Current `${...}` nesting, bounded so that hostile input cannot exhaust the stack.
    depth: usize,
}

const ESCAPE: char = '\\';

/// Deeper `${...}` nesting than this is refused (BuildKit has no limit; Go stacks grow).
const MAX_NESTING: usize = 512;

impl<'a> Lexer<'a> {
    fn new(src: &'a str, raw_quotes: bool, raw_escapes: bool) -> Self {
        // Go's text/scanner skips a byte-order mark at the very start.
        let pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Self {
            src,
            pos,
            raw_quotes,
            raw_escapes,
            words_buffer: String::new(),
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn process(mut self) -> Result<Vec<String>, String> {
        let raw = self.raw_escapes;
        self.process_stop_on(None, raw).map(|(_, words)| words)
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.stop_on(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.words_buffer.clear();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish(&mut self.words_buffer)));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&mut self.words_buffer, &tmp);
                }
                '<' | '\'' | '"' => {
                    let tmp = match ch {
                        '<' => self.process_possible_heredoc(),
                        '\'' => self.process_single_quote()?,
                        _ => self.process_double_quote()?,
                    };
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.words_buffer, &tmp);
                }
                _ => {
                    self.next();
                    if ch == ESCAPE {
                        if self.raw_escapes {
                            words.add_raw_char(&mut self.words_buffer, ch);
                            result.push(ch);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(&mut self.words_buffer, escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(&mut self.words_buffer, ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish(&mut self.words_buffer)))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.next();
        if self.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.next();
        if self.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or(ESCAPE);
                    if ch == ESCAPE {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => ch = self.next().unwrap_or(ch),
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        if self.depth >= MAX_NESTING {
            return Err("variable substitutions nested too deeply".into());
        }
        self.depth += 1;
        let r = self.dollar();
        self.depth -= 1;
        r
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            return Ok(format!("${name}"));
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.next();
        // Go prints a missing character (EOF) as U+FFFD.
        let mut chs = String::from(ch.unwrap_or('\u{fffd}'));
        match ch {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut op = ch;
                let null_is_unset = op == Some(':');
                if null_is_unset {
                    op = self.next();
                    chs.push(op.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(op, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = self.stop_or(Some('}'), raw, "syntax error: missing '}'")?;
                Ok(format!("${{{name}{chs}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let pattern = self.stop_or(Some('/'), true, "syntax error: missing '/' in ${}")?;
                let replacement = self.stop_or(Some('}'), true, "syntax error: missing '}'")?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// `processStopOn` inside `${...}`: at end of input the error becomes `at_eof`.
    fn stop_or(&mut self, stop: Option<char>, raw: bool, at_eof: &str) -> Result<String, String> {
        match self.process_stop_on(stop, raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(at_eof.into()),
            Err(e) => Err(e),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                name.push(ch);
                return name;
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            self.next();
            result.push(c);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{heredocs_from_line, parse_heredoc, Lexer};

    fn words(s: &str) -> Vec<String> {
        Lexer::new(s, true, true).process().unwrap()
    }

    #[test]
    fn line_words() {
        assert_eq!(words("RUN <<  EOF  > foo"), ["RUN", "<<  EOF", ">", "foo"]);
        assert_eq!(
            words(r#"RUN "<<A" 'b c' x\ y"#),
            ["RUN", "\"<<A\"", "'b c'", "x\\ y"]
        );
        // BuildKit's shared word buffer: the nested ${} drops what preceded it.
        assert_eq!(words("abc${x:-y z} q"), ["${x:-y", "z}", "q"]);
        assert!(Lexer::new("'open", true, true).process().is_err());
    }

    #[test]
    fn heredoc_words() {
        let h = parse_heredoc("3<<-'E'O\\'F").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.file_descriptor, h.chomp, h.expand),
            ("EO'F", 3, true, false)
        );
        assert!(parse_heredoc("<<").unwrap().is_none());
        assert!(parse_heredoc("<<a<b").unwrap().is_none());
        assert!(parse_heredoc("x<<EOF").unwrap().is_none());
        assert_eq!(
            parse_heredoc("99999999999999999999<<E")
                .unwrap()
                .unwrap()
                .file_descriptor,
            u64::MAX
        );
        let names: Vec<_> = heredocs_from_line("COPY <<A <<\"B\" /d")
            .unwrap()
            .into_iter()
            .map(|h| (h.name, h.expand))
            .collect();
        assert_eq!(names, [("A".to_string(), true), ("B".to_string(), false)]);
        assert!(heredocs_from_line("RUN <<'EOF").unwrap().is_empty());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = |n: usize| format!("RUN <<E {}{}", "${a:-\"".repeat(n), "\"}".repeat(n));
        assert_eq!(heredocs_from_line(&deep(400)).unwrap().len(), 1);
        // Past the bound the line counts as unlexable: no heredoc, and no stack overflow.
        assert!(heredocs_from_line(&deep(10_000)).unwrap().is_empty());
    }
}
