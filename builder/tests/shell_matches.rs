//! Expansion results together with the used / unset variable sets. The cases and their
//! expected values are BuildKit's (`lex_test.go`: TestProcessWithMatches,
//! TestProcessWithMatchesPlatform, TestShellParserMandatoryEnvVars).

use std::collections::{BTreeSet, HashMap};

use strata_builder::dockerfile::shell::{ExpandErrorKind, Lexer};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

struct Case {
    input: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// `None`: the expansion must fail.
    expected: Option<&'static str>,
    matched: &'static [&'static str],
    unmatched: &'static [&'static str],
}

const FOO_BAR: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];

const fn ok(
    input: &'static str,
    env: &'static [(&'static str, &'static str)],
    expected: &'static str,
    matched: &'static [&'static str],
    unmatched: &'static [&'static str],
) -> Case {
    Case {
        input,
        env,
        expected: Some(expected),
        matched,
        unmatched,
    }
}

const fn err(input: &'static str, env: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        input,
        env,
        expected: None,
        matched: &[],
        unmatched: &[],
    }
}

const CASES: &[Case] = &[
    ok("x", &[("DUMMY", "dummy")], "x", &[], &[]),
    ok("x ${UNUSED}", &[("DUMMY", "dummy")], "x ", &[], &["UNUSED"]),
    ok("x ${FOO}", &[("FOO", "y")], "x y", &["FOO"], &[]),
    ok(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FOO_BAR,
        "xxx  ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FOO_BAR,
        "xxx bbb ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok("${FOO:-}", FOO_BAR, "xxx", &["FOO"], &[]),
    ok("${FOO:-}", &[], "", &[], &["FOO"]),
    ok(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FOO_BAR,
        "aaa bbb ",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FOO_BAR,
        "aaa  ",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok("${FOO?aaa}", FOO_BAR, "xxx", &["FOO"], &[]),
    ok("${BAR?bbb}", FOO_BAR, "", &["BAR"], &[]),
    err("${BAZ?ccc}", FOO_BAR),
    ok("${FOO:?aaa}", FOO_BAR, "xxx", &["FOO"], &[]),
    err("${BAR:?bbb}", FOO_BAR),
    err("${BAZ:?ccc}", FOO_BAR),
    err("${BAZ:?}", FOO_BAR),
    err("${FOO=aaa}", FOO_BAR),
    err("${FOO=:aaa}", FOO_BAR),
    err("${FOO=}", &[]),
    // Regex metacharacters are literal; `}` must be escaped inside `${}`.
    ok(
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        "x",
        &["FOO"],
        &[],
    ),
    ok("${FOO%%\\**}", &[("FOO", "xx**")], "xx", &["FOO"], &[]),
    ok("${FOO#*x*y}", &[("FOO", "xxyy")], "y", &["FOO"], &[]),
    ok("${FOO#*}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]),
    ok(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        "xyy",
        &["FOO", "BAR"],
        &[],
    ),
    ok(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    ),
    ok("${FOO#}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]),
    ok("${FOO##*x}", &[("FOO", "xxyy")], "yy", &["FOO"], &[]),
    ok("${FOO##}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]),
    ok("${FOO#?\\?}", &[("FOO", "???y")], "?y", &["FOO"], &[]),
    ok(
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &[("FOO", "xxyy")],
        ".xxyy.",
        &["FOO"],
        &["ABC"],
    ),
    ok("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], "a", &["FOO"], &[]),
    ok("${FOO%}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]),
    ok(
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    ),
    err("${FOO:#}", &[]),
    err("${FOO:##}", &[]),
    err("${FOO:%}", &[]),
    err("${FOO:%%}", &[]),
    ok(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        "/foo/b/c.txt - /foo/c.txt",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        "https://google.de",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    // Escaped separators: the pattern drops the escape, the replacement keeps it.
    ok(
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        "\\/tmp\\/foo.txt",
        &["FOO"],
        &[],
    ),
    ok(
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "wwxxyy",
        &["FOO", "BAR"],
        &[],
    ),
    err("${FOO//ww}", &[("FOO", "xxyy")]),
    err("${FOO//}", &[("FOO", "xxyy")]),
    ok("${FOO///}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]),
    ok("${FOO///}", &[], "", &[], &["FOO"]),
];

#[test]
fn process_with_matches() {
    let lex = Lexer::new('\\');
    for c in CASES {
        let got = lex.process_word_with_matches(c.input, &env(c.env));
        match (c.expected, got) {
            (None, Err(_)) => {}
            (None, Ok(e)) => panic!("{:?}: expected an error, got {:?}", c.input, e.word),
            (Some(want), Err(e)) => panic!("{:?}: expected {want:?}, got error {e}", c.input),
            (Some(want), Ok(e)) => {
                assert_eq!(e.word, want, "{:?}", c.input);
                assert_eq!(e.matched, set(c.matched), "{:?} matched", c.input);
                assert_eq!(e.unmatched, set(c.unmatched), "{:?} unmatched", c.input);
            }
        }
    }
}

#[test]
fn process_with_matches_platform() {
    let lex = Lexer::new('\\');
    let release =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let run = |extra: &[(&str, &str)]| {
        let all: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        lex.process_word_with_matches(release, &env(&all)).unwrap()
    };
    let arm = run(&[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]);
    assert_eq!(arm.word, "something-v1.2.3.linux-arm-v7.tar.gz");
    assert_eq!(
        arm.matched,
        set(&["VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"])
    );
    let empty = run(&[("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]);
    assert_eq!(empty.word, "something-v1.2.3.linux-arm64.tar.gz");
    let unset = run(&[("TARGETARCH", "arm64")]);
    assert_eq!(unset.word, "something-v1.2.3.linux-arm64.tar.gz");
    assert_eq!(unset.unmatched, set(&["TARGETVARIANT"]));
}

#[test]
fn mandatory_env_vars() {
    let lex = Lexer::new('\\');
    let set_env = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty_env = env(&[("VAR", ""), ("ARG", "x")]);
    let unset_env = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(lex.process_word(no_empty, &set_env).unwrap(), "plain");
    for e in [&empty_env, &unset_env] {
        let err = lex.process_word(no_empty, e).unwrap_err();
        assert!(err.to_string().contains("message herex"), "{err}");
    }
    assert_eq!(lex.process_word(no_unset, &set_env).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty_env).unwrap(), "");
    let err = lex.process_word(no_unset, &unset_env).unwrap_err();
    assert_eq!(
        err.kind,
        ExpandErrorKind::Required {
            name: "VAR".into(),
            message: "message herex".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "failed to process \"${VAR?message here$ARG}\": VAR: message herex"
    );
}

#[test]
fn required_default_messages() {
    let lex = Lexer::new('\\');
    let e = env(&[("EMPTY", "")]);
    let msg = |w: &str| lex.process_word(w, &e).unwrap_err().kind.to_string();
    assert_eq!(msg("${NOPE?}"), "NOPE: is not allowed to be unset");
    assert_eq!(msg("${NOPE:?}"), "NOPE: is not allowed to be unset");
    assert_eq!(msg("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
}

#[test]
fn unmatched_names_are_recorded_even_inside_operands() {
    let lex = Lexer::new('\\');
    let e = lex
        .process_word_with_matches("${A:-${B:-$C}} ${D+$E} $1 $@", &env(&[("D", "d")]))
        .unwrap();
    assert_eq!(e.word, "   ");
    assert_eq!(e.matched, set(&["D"]));
    assert_eq!(e.unmatched, set(&["A", "B", "C", "E", "1", "@"]));
}
