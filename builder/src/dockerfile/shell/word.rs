//! The expansion state machine, step for step BuildKit's `shellWord`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use unicode_general_category::{get_general_category, GeneralCategory};

use super::error::{ExpandError, ExpandErrorKind};
use super::pattern::{replace_all, replace_first, trim_prefix, trim_suffix};
use super::{Env, Expansion, Lexer};

/// Where BuildKit formats Go's end-of-input rune (-1) with `string(ch)` it prints U+FFFD.
const EOF_CHAR: char = '\u{FFFD}';

/// Go's `text/scanner` skips a byte-order mark at the very start of its input.
const BOM: char = '\u{FEFF}';

type Kind = ExpandErrorKind;

pub(crate) fn expand<E: Env + ?Sized>(
    lexer: &Lexer,
    word: &str,
    env: &E,
) -> Result<Expansion, ExpandError> {
    let mut p = Processor {
        lexer,
        env,
        src: word,
        pos: if word.starts_with(BOM) {
            BOM.len_utf8()
        } else {
            0
        },
        raw_escapes: lexer.raw_escapes,
        word_buf: String::new(),
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    match p.process_stop_on(None, lexer.raw_escapes) {
        Ok((word, words)) => Ok(Expansion {
            word,
            words,
            matched: p.matched,
            unmatched: p.unmatched,
        }),
        Err(kind) => Err(ExpandError {
            word: word.to_string(),
            kind,
        }),
    }
}

/// Go's `unicode.IsLetter`: general category L.
pub(crate) fn go_is_letter(c: char) -> bool {
    use GeneralCategory as G;
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

/// Go's `unicode.IsDigit`: general category Nd.
pub(crate) fn go_is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c) == GeneralCategory::DecimalNumber
}

/// POSIX special parameters; never set in a Dockerfile, but they parse as names.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

struct Processor<'a, E: ?Sized> {
    lexer: &'a Lexer,
    env: &'a E,
    src: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    pos: usize,
    /// Whether escapes are kept; `#`, `%` and `/` operands turn it on while they are read.
    raw_escapes: bool,
    /// The word being built. BuildKit shares this buffer between a `${...}` operand and
    /// the text around it, so reading an operand drops the partial word it interrupted
    /// (`a${X:-b}c` splits to `["bc"]`, not `["abc"]`). Kept so word splitting (which its
    /// heredoc detection relies on) agrees with BuildKit.
    word_buf: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

/// The finished words of one `process_stop_on` call; the current one is in `word_buf`.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if !ch.is_whitespace() {
            self.add_raw_char(buf, ch);
        } else if self.in_word && !buf.is_empty() {
            self.done.push(std::mem::take(buf));
            self.in_word = false;
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
            self.done.push(std::mem::take(buf));
        }
        self.done
    }
}

impl<E: Env + ?Sized> Processor<'_, E> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name).map(Cow::into_owned) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v)
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// Reads up to `stop` (consumed) or the end of input when `stop` is `None`.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), Kind> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.stop_on(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), Kind> {
        let mut result = String::new();
        let mut words = Words::default();
        self.word_buf.clear();
        let quotes = !self.lexer.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish(&mut self.word_buf)));
            }
            match ch {
                '$' => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                    // Expanded text is split on its whitespace.
                    words.add_string(&mut self.word_buf, &v);
                }
                '<' => {
                    let v = self.process_possible_heredoc();
                    result.push_str(&v);
                    words.add_raw_string(&mut self.word_buf, &v);
                }
                '\'' | '"' if quotes => {
                    let v = if ch == '\'' {
                        self.process_single_quote()?
                    } else {
                        self.process_double_quote()?
                    };
                    result.push_str(&v);
                    words.add_raw_string(&mut self.word_buf, &v);
                }
                _ => {
                    self.next();
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            words.add_raw_char(&mut self.word_buf, ch);
                            result.push(ch);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(&mut self.word_buf, escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(&mut self.word_buf, ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(expected) => Err(Kind::UnexpectedEnd { expected }),
            None => Ok((result, words.finish(&mut self.word_buf))),
        }
    }

    /// Everything up to the next `'` is literal; there is no escape inside.
    fn process_single_quote(&mut self) -> Result<String, Kind> {
        let raw = self.lexer.raw_quotes;
        let mut result = String::new();
        if let Some(q) = self.next().filter(|_| raw) {
            result.push(q);
        }
        loop {
            match self.next() {
                None => return Err(Kind::UnterminatedSingleQuote),
                Some('\'') => {
                    if raw {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    /// `$` expands; the escape character escapes only `"`, `$` and itself.
    fn process_double_quote(&mut self) -> Result<String, Kind> {
        let raw = self.lexer.raw_quotes;
        let escape = self.lexer.escape;
        let mut result = String::new();
        if let Some(q) = self.next().filter(|_| raw) {
            result.push(q);
        }
        loop {
            match self.peek() {
                None => return Err(Kind::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if raw {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(mut ch) => {
                    self.next();
                    if ch == escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // Loops back to the unterminated-quote error.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == escape => {
                                self.next();
                                ch = n;
                            }
                            // Any other escape stays literal (pushed again in raw mode,
                            // as BuildKit does).
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `<<` and the blanks after it stay in one word so heredoc markers survive splitting.
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut result = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }

    /// A name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && go_is_digit(ch) {
                while let Some(d) = self.peek().filter(|&d| go_is_digit(d)) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !go_is_letter(ch) && !go_is_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_dollar(&mut self) -> Result<String, Kind> {
        self.next();
        let skip_unset = self.lexer.skip_unset_env;
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(Kind::MissingBrace),
            Some('{' | '}' | ':') => return Err(Kind::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.next();
        let mut modifier = String::from(ch.unwrap_or(EOF_CHAR));
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let null_is_unset = ch == Some(':');
                let op = if null_is_unset {
                    let op = self.next();
                    modifier.push(op.unwrap_or(EOF_CHAR));
                    op
                } else {
                    ch
                };
                self.process_modifier(&name, op, null_is_unset, modifier)
            }
            Some('/') => self.process_replace(&name),
            _ => Err(Kind::UnsupportedModifier { modifier }),
        }
    }

    /// Reads a `${...}` operand up to `stop`; running out of input reports `at_eof`.
    fn operand(&mut self, stop: char, raw_escapes: bool, at_eof: Kind) -> Result<String, Kind> {
        match self.process_stop_on(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(at_eof),
            Err(e) => Err(e),
        }
    }

    /// `${V-w}`, `${V+w}`, `${V?w}`, `${V#p}`, `${V%p}` and their `:` forms.
    fn process_modifier(
        &mut self,
        name: &str,
        op: Option<char>,
        null_is_unset: bool,
        modifier: String,
    ) -> Result<String, Kind> {
        // Pattern operands keep their escapes: the pattern syntax interprets them.
        let raw = matches!(op, Some('#' | '%'));
        if null_is_unset && raw {
            return Err(Kind::UnsupportedModifier { modifier });
        }
        let word = self.operand('}', raw, Kind::MissingBrace)?;
        let value = self.get_env(name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let set = value.is_some();
        let value = value.unwrap_or_default();
        let null = null_is_unset && value.is_empty();
        match op {
            Some('-') => Ok(if !set || null { word } else { value }),
            Some('+') => Ok(if !set || null { String::new() } else { word }),
            Some('?') if !set || null => {
                let message = match (word.is_empty(), set) {
                    (false, _) => word,
                    (true, false) => "is not allowed to be unset".to_string(),
                    (true, true) => "is not allowed to be empty".to_string(),
                };
                Err(Kind::Required {
                    name: name.to_string(),
                    message,
                })
            }
            Some('?') => Ok(value),
            Some(c @ ('#' | '%')) => {
                // A doubled operator (`##`, `%%`) asks for the longest match.
                let (pattern, greedy) = match word.strip_prefix(c) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                if c == '%' {
                    trim_suffix(pattern, &value, greedy)
                } else {
                    trim_prefix(pattern, &value, greedy)
                }
            }
            _ => Err(Kind::UnsupportedModifier { modifier }),
        }
    }

    /// `${V/p/r}` and `${V//p/r}`.
    fn process_replace(&mut self, name: &str) -> Result<String, Kind> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = self.operand('/', true, Kind::MissingSlash)?;
        let replacement = self.operand('}', true, Kind::MissingBrace)?;
        let value = self.get_env(name);
        if value.is_none() && self.lexer.skip_unset_env {
            // BuildKit writes a single `/` back even for `//`.
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        if all {
            replace_all(&pattern, &value, &replacement)
        } else {
            replace_first(&pattern, &value, &replacement)
        }
    }
}
