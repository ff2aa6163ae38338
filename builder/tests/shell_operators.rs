//! Each operator, quoting and escaping rule and error of the word expander, with the
//! values BuildKit's lexer (`frontend/dockerfile/shell/lex.go`) produces for them.

use strata_builder::dockerfile::shell::{ExpandErrorKind, Lexer, PatternError};

fn env() -> Vec<(String, String)> {
    [
        ("SET", "value"),
        ("EMPTY", ""),
        ("P", "path/to/file.tar.gz"),
        ("V", "foo.foo"),
        ("R", "[$0]"),
        ("SPACED", "  a b\tc\n"),
        ("KOREAN", "한국어"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn word(input: &str) -> String {
    Lexer::new('\\')
        .process_word(input, &env())
        .unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

fn words(input: &str) -> Vec<String> {
    Lexer::new('\\')
        .process_words(input, &env())
        .unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

fn error(input: &str) -> ExpandErrorKind {
    match Lexer::new('\\').process_word(input, &env()) {
        Ok(w) => panic!("{input:?}: expected an error, got {w:?}"),
        Err(e) => {
            assert_eq!(e.word, input);
            e.kind
        }
    }
}

fn unsupported(modifier: &str) -> ExpandErrorKind {
    ExpandErrorKind::UnsupportedModifier {
        modifier: modifier.to_string(),
    }
}

#[test]
fn plain_references() {
    assert_eq!(word("$SET"), "value");
    assert_eq!(word("${SET}"), "value");
    assert_eq!(word("a${SET}b"), "avalueb");
    assert_eq!(word("$SETx"), "");
    assert_eq!(word("$SET.x"), "value.x");
    assert_eq!(word("$KOREAN!"), "한국어!");
    assert_eq!(word("$UNSET"), "");
    assert_eq!(word("${EMPTY}"), "");
}

#[test]
fn dollar_without_a_name_is_literal() {
    assert_eq!(word("$"), "$");
    assert_eq!(word("a$"), "a$");
    assert_eq!(word("$ a"), "$ a");
    assert_eq!(word("\"$\""), "$");
    assert_eq!(word("$/x"), "$/x");
}

#[test]
fn positional_and_special_parameters_are_never_set() {
    assert_eq!(word("$1x"), "x");
    assert_eq!(word("$123x"), "x");
    assert_eq!(word("$0a"), "a");
    assert_eq!(word("$@@@"), "@@");
    assert_eq!(word("$$"), "");
    assert_eq!(word("${#}x"), "x");
    assert_eq!(word("${?:-q}"), "q");
    // Names use Go's Unicode classes: fullwidth digits are digits (Nd), Roman numerals
    // (Nl) are neither letters nor digits.
    assert_eq!(word("$\u{ff11}x"), "x");
    assert_eq!(word("$\u{216b}"), "$\u{216b}");
    assert_eq!(word("$é"), "");
}

#[test]
fn default_and_alternative_values() {
    assert_eq!(word("${SET:-w}"), "value");
    assert_eq!(word("${EMPTY:-w}"), "w");
    assert_eq!(word("${UNSET:-w}"), "w");
    assert_eq!(word("${SET-w}"), "value");
    assert_eq!(word("${EMPTY-w}"), "");
    assert_eq!(word("${UNSET-w}"), "w");
    assert_eq!(word("${SET:+w}"), "w");
    assert_eq!(word("${EMPTY:+w}"), "");
    assert_eq!(word("${UNSET:+w}"), "");
    assert_eq!(word("${SET+w}"), "w");
    assert_eq!(word("${EMPTY+w}"), "w");
    assert_eq!(word("${UNSET+w}"), "");
    assert_eq!(word("${UNSET:-${SET:+${KOREAN}}}"), "한국어");
    assert_eq!(word("${UNSET:-'a b'\"$SET\"}"), "a bvalue");
    assert_eq!(word("${UNSET:-a\\}b}"), "a}b");
    assert_eq!(word("${UNSET:-a}b}"), "ab}");
}

#[test]
fn required_values() {
    assert_eq!(word("${SET?}"), "value");
    assert_eq!(word("${SET:?msg}"), "value");
    assert_eq!(word("${EMPTY?msg}"), "");
    let req = |name: &str, message: &str| ExpandErrorKind::Required {
        name: name.into(),
        message: message.into(),
    };
    assert_eq!(error("${EMPTY:?msg $SET}"), req("EMPTY", "msg value"));
    assert_eq!(
        error("${UNSET?}"),
        req("UNSET", "is not allowed to be unset")
    );
    assert_eq!(
        error("${EMPTY:?}"),
        req("EMPTY", "is not allowed to be empty")
    );
}

#[test]
fn prefix_and_suffix_removal() {
    assert_eq!(word("${P#*/}"), "to/file.tar.gz");
    assert_eq!(word("${P##*/}"), "file.tar.gz");
    assert_eq!(word("${P%.*}"), "path/to/file.tar");
    assert_eq!(word("${P%%.*}"), "path/to/file");
    assert_eq!(word("${P#nomatch}"), "path/to/file.tar.gz");
    assert_eq!(word("${P#pa?h}"), "/to/file.tar.gz");
    assert_eq!(word("${P%.tar.gz}"), "path/to/file");
    assert_eq!(word("${UNSET#*}"), "");
    // Escaped wildcards are literal.
    assert_eq!(word("${UNSET:-*x}"), "*x");
}

#[test]
fn pattern_errors() {
    let lex = Lexer::new('\\');
    let e = |p: &str, w: &str| {
        let env = vec![("V", "abc"), ("PAT", p)];
        lex.process_word(w, &env).unwrap_err().kind
    };
    let invalid = |pattern: &str, c: char| ExpandErrorKind::InvalidPattern {
        pattern: pattern.into(),
        reason: PatternError::InvalidEscape(c),
    };
    assert_eq!(e("\\x", "${V#$PAT}"), invalid("\\x", 'x'));
    assert_eq!(e("\\", "${V##$PAT}"), invalid("\\", '\u{fffd}'));
    // Suffix patterns are reported reversed: BuildKit matches them backwards.
    assert_eq!(e("a\\x", "${V%$PAT}"), invalid("\\xa", 'x'));
    assert_eq!(e("\\x", "${V/$PAT/y}"), invalid("\\x", 'x'));
    // An unset variable still has its pattern checked.
    assert_eq!(error("${UNSET#\\x}"), invalid("\\x", 'x'));
    let msg = lex
        .process_word("${V#\\x}", &vec![("V", "")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "failed to process \"${V#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'"
    );
}

#[test]
fn replacement() {
    assert_eq!(word("${V/o/0}"), "f0o.foo");
    assert_eq!(word("${V//o/0}"), "f00.f00");
    assert_eq!(word("${V//o/}"), "f.f");
    assert_eq!(error("${V//o}"), ExpandErrorKind::MissingSlash);
    // Only `/` ends the pattern, so `}` belongs to it here.
    assert_eq!(word("${V/o}/x}"), "foo.foo");
    assert_eq!(word("${V/*/x}"), "x");
    assert_eq!(word("${V//?/x}"), "xxxxxxx");
    assert_eq!(word("${V/o*/}"), "f");
    assert_eq!(word("${V/.f/-}"), "foo-oo");
    // `#` and `%` have no anchoring meaning here: they are literal characters.
    assert_eq!(word("${V/#f/x}"), "foo.foo");
    assert_eq!(word("${UNSET/a/b}"), "");
    // Replace-all expands `$0` (the match) in the replacement, as Go's ReplaceAllString.
    assert_eq!(word("${V//o/$R}"), "f[o][o].f[o][o]");
    assert_eq!(word("${V//o/\\$0}"), "f\\o\\o.f\\o\\o");
    assert_eq!(word("${V/o/$R}"), "f[$0]o.foo");
}

#[test]
fn single_quotes() {
    assert_eq!(word("'$SET'"), "$SET");
    assert_eq!(word("'a\\'"), "a\\");
    assert_eq!(word("'\"'"), "\"");
    assert_eq!(word("a'b c'd"), "ab cd");
    assert_eq!(words("a'b c'd e"), ["ab cd", "e"]);
    assert_eq!(error("'abc"), ExpandErrorKind::UnterminatedSingleQuote);
}

#[test]
fn double_quotes() {
    assert_eq!(word("\"$SET\""), "value");
    assert_eq!(word("\"a\\\"b\""), "a\"b");
    assert_eq!(word("\"a\\$SET\""), "a$SET");
    assert_eq!(word("\"a\\\\b\""), "a\\b");
    assert_eq!(word("\"a\\nb\""), "a\\nb");
    assert_eq!(word("\"'$SET'\""), "'value'");
    assert_eq!(word("${UNSET:-\"}\"}"), "}");
    assert_eq!(error("\"${UNSET:-\"}\""), ExpandErrorKind::MissingBrace);
    assert_eq!(words("\"$SPACED\" x"), ["  a b\tc\n", "x"]);
    assert_eq!(error("\"abc"), ExpandErrorKind::UnterminatedDoubleQuote);
    assert_eq!(error("\"abc\\\""), ExpandErrorKind::UnterminatedDoubleQuote);
    assert_eq!(error("\"abc\\"), ExpandErrorKind::UnterminatedDoubleQuote);
}

#[test]
fn escapes() {
    assert_eq!(word("\\$SET"), "$SET");
    assert_eq!(word("\\${SET}"), "${SET}");
    assert_eq!(word("a\\tb"), "atb");
    assert_eq!(word("a\\\\"), "a\\");
    assert_eq!(word("a\\"), "a");
    assert_eq!(word("\\'a"), "'a");
    assert_eq!(words("a\\ b c"), ["a b", "c"]);
}

#[test]
fn syntax_errors() {
    use ExpandErrorKind::*;
    assert_eq!(error("${"), MissingBrace);
    assert_eq!(error("${}"), BadSubstitution);
    assert_eq!(error("${:}"), BadSubstitution);
    assert_eq!(error("${{a}"), BadSubstitution);
    assert_eq!(error("${a"), unsupported("\u{fffd}"));
    assert_eq!(error("${a:"), MissingBrace);
    assert_eq!(error("${a:-b"), MissingBrace);
    assert_eq!(error("${a:-b ${c}"), MissingBrace);
    assert_eq!(error("${a/b"), MissingSlash);
    assert_eq!(error("${a/b/c"), MissingBrace);
    assert_eq!(error("${a:-'b}"), MissingBrace);
    assert_eq!(error("${a:-'b}'x"), MissingBrace);
    assert_eq!(error("${a=b}"), unsupported("="));
    assert_eq!(error("${a:=b}"), unsupported(":="));
    assert_eq!(error("${a:#b}"), unsupported(":#"));
    assert_eq!(error("${a:%%b}"), unsupported(":%"));
    assert_eq!(error("${a~}"), unsupported("~"));
    assert_eq!(error("${.}"), unsupported("."));
    assert_eq!(error("${1a}"), unsupported("a"));
    // A missing '}' reported from deep inside wins over the inner error, as in BuildKit.
    assert_eq!(error("${a:-${UNSET:?oops}"), MissingBrace);
    assert_eq!(
        error("${a:-${UNSET:?oops}}"),
        Required {
            name: "UNSET".into(),
            message: "oops".into()
        }
    );
}

#[test]
fn error_messages_match_buildkit() {
    let msg = |w: &str| {
        Lexer::new('\\')
            .process_word(w, &env())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        msg("he${}"),
        "failed to process \"he${}\": syntax error: bad substitution"
    );
    assert_eq!(
        msg("${a"),
        "failed to process \"${a\": unsupported modifier (\u{fffd}) in substitution"
    );
    assert_eq!(
        msg("${a:=b}"),
        "failed to process \"${a:=b}\": unsupported modifier (:=) in substitution"
    );
    assert_eq!(
        msg("${a/b"),
        "failed to process \"${a/b\": syntax error: missing '/' in ${}"
    );
    assert_eq!(msg("${a"), msg("${a"));
    assert_eq!(
        msg("'x\ty"),
        "failed to process \"'x\\ty\": unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        msg("${UNSET:?}"),
        "failed to process \"${UNSET:?}\": UNSET: is not allowed to be unset"
    );
}

#[test]
fn word_splitting() {
    assert_eq!(words("  a   b  "), ["a", "b"]);
    assert_eq!(words("a$SPACED"), ["a", "a", "b", "c"]);
    assert_eq!(words("$SPACED."), ["a", "b", "c", "."]);
    assert_eq!(words("a\"\"b"), ["ab"]);
    assert_eq!(words("\"\""), Vec::<String>::new());
    assert_eq!(words("a \"\" b"), ["a", "b"]);
    assert_eq!(words(""), Vec::<String>::new());
    // Go's unicode.IsSpace: NBSP and other Unicode spaces split too.
    let lex = Lexer::new('\\');
    let e = vec![("X", "a\u{a0}b\u{3000}c")];
    assert_eq!(lex.process_words("$X", &e).unwrap(), ["a", "b", "c"]);
    assert_eq!(lex.process_words("x\u{a0}y", &e).unwrap(), ["x", "y"]);
}

#[test]
fn heredoc_markers_stay_one_word() {
    assert_eq!(words("cat <<  EOF"), ["cat", "<<  EOF"]);
    assert_eq!(words("cat <<-EOF >out"), ["cat", "<<-EOF", ">out"]);
    assert_eq!(words("a < b"), ["a", "<", "b"]);
    assert_eq!(words("a<<\t\"E F\""), ["a<<\tE F"]);
    assert_eq!(word("cat <<  EOF"), "cat <<  EOF");
}

/// BuildKit shares one buffer between a `${...}` operand and the word around it, so word
/// splitting loses the text before an operator expansion (ProcessWord is unaffected).
#[test]
fn operand_expansion_drops_the_partial_word_like_buildkit() {
    assert_eq!(words("a${UNSET:-b}c"), ["bc"]);
    assert_eq!(word("a${UNSET:-b}c"), "abc");
    assert_eq!(words("x a${UNSET:-b}c"), ["x", "bc"]);
    assert_eq!(words("a\"${UNSET:-b}\""), ["b"]);
    assert_eq!(words("a${V/o/0}"), ["f0o.foo"]);
    assert_eq!(words("a${SET}c"), ["avaluec"]);
    assert_eq!(words("cat <<${UNSET:-EOF}"), ["cat", "EOF"]);
}

#[test]
fn byte_order_mark_is_skipped_only_at_the_start() {
    assert_eq!(word("\u{feff}a$SET"), "avalue");
    assert_eq!(word("a\u{feff}"), "a\u{feff}");
    assert_eq!(word("\u{feff}\u{feff}"), "\u{feff}");
}

#[test]
fn backtick_escape() {
    let lex = Lexer::new('`');
    let w = |input: &str| {
        lex.process_word(input, &env())
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
    };
    assert_eq!(w("C:\\path\\$SET"), "C:\\path\\value");
    assert_eq!(w("a`$SET"), "a$SET");
    assert_eq!(w("a``b"), "a`b");
    assert_eq!(w("\"a`\"b\""), "a\"b");
    assert_eq!(w("\"a\\\""), "a\\");
    assert_eq!(w("\"a`$SET`x\""), "a$SET`x");
    assert_eq!(w("a`"), "a");
    assert_eq!(lex.process_words("a` b c", &env()).unwrap(), ["a b", "c"]);
    // Patterns always use `\` for their own escapes; a backtick there is literal.
    let e = vec![("V", "*x"), ("B", "`abc")];
    assert_eq!(lex.process_word("${V#\\*}", &e).unwrap(), "x");
    assert_eq!(lex.process_word("${B#`*}", &e).unwrap(), "abc");
    assert_eq!(lex.process_word("${B:-`}}", &e).unwrap(), "`abc");
    assert_eq!(lex.process_word("${U:-`}}", &e).unwrap(), "}");
}

#[test]
fn skip_unset_env_and_raw_quotes_mode() {
    let lex = Lexer::new('\\').with_raw_quotes_and_unset();
    let w = |input: &str| {
        lex.process_word(input, &env())
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
    };
    assert_eq!(w("$X ${X} $SET"), "$X ${X} value");
    assert_eq!(w("${X:-a} ${X-$SET} ${SET:-a}"), "${X:-a} ${X-value} value");
    assert_eq!(w("${X#a*} ${X%%b}"), "${X#a*} ${X%%b}");
    // BuildKit writes `//` back as `/`.
    assert_eq!(w("${X//a/b} ${X/a/b}"), "${X/a/b} ${X/a/b}");
    // Unknown operators are only rejected for set variables.
    assert_eq!(w("${X:=a}"), "${X:=a}");
    assert!(lex.process_word("${SET:=a}", &env()).is_err());
    assert_eq!(w("'a'\"b $SET\""), "'a'\"b value\"");
    assert_eq!(w("'\\\\'"), "'\\\\'");
    assert_eq!(w("\\'x"), "'x");
    assert_eq!(w("${X:-'q'}"), "${X:-'q'}");
}

#[test]
fn raw_escapes_mode() {
    let lex = Lexer {
        raw_escapes: true,
        ..Lexer::new('\\')
    };
    let w = |input: &str| lex.process_word(input, &env()).unwrap();
    assert_eq!(w("a\\ b\\$SET"), "a\\ b\\$SET");
    assert_eq!(w("a\\"), "a\\");
    assert_eq!(w("\"a\\\"b\""), "a\\\"b");
    // Quirk kept from BuildKit: a non-escaping `\` in double quotes comes out twice.
    assert_eq!(w("\"a\\x\""), "a\\\\x");
    assert_eq!(lex.process_words("a\\ b", &env()).unwrap(), ["a\\ b"]);
}

#[test]
fn skip_process_quotes_mode() {
    let lex = Lexer {
        skip_process_quotes: true,
        ..Lexer::new('\\')
    };
    assert_eq!(lex.process_word("'$SET'", &env()).unwrap(), "'value'");
    assert_eq!(
        lex.process_words("\"a b\"", &env()).unwrap(),
        ["\"a", "b\""]
    );
    assert_eq!(lex.process_word("'abc", &env()).unwrap(), "'abc");
    // Quotes inside `${...}` operands are plain characters too.
    assert_eq!(lex.process_word("${U:-'}'}", &env()).unwrap(), "''}");
}
