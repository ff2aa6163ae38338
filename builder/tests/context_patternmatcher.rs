//! moby/patternmatcher's test vectors (patternmatcher_test.go), Go's `filepath.Match` vectors
//! (path/filepath/match_test.go), and cases found by running upstream Go code against this
//! port (the regexp quirks patternmatcher inherits).

use strata_builder::context::{
    go_match, matches_or_parent_matches, MatchInfo, MatchKind, PatternMatcher,
};

/// patternmatcher's TestMatches table: (pattern, path, excluded).
const MATCHES: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**/", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**", "dir/file/", true),
    ("**/", "dir/file/", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/file/", true),
    ("dir/**", "dir/dir2/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file/", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("a\\\\", "a\\", true),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def", true),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("a\\*b", "a*b", true),
];

/// patternmatcher's multiPatternTests.
const MULTI: &[(&[&str], &str, bool)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
];

fn parent_dirs(text: &str) -> Vec<String> {
    let parent = match text.rfind('/') {
        Some(i) => strata_builder::context::clean(&text[..=i]),
        None => return Vec::new(),
    };
    if parent == "." {
        return Vec::new();
    }
    let dirs: Vec<&str> = parent.split('/').collect();
    (1..=dirs.len()).map(|i| dirs[..i].join("/")).collect()
}

/// The three ways upstream's test evaluates a case must agree with the expectation.
fn check(patterns: &[&str], text: &str, want: bool) {
    let pm = PatternMatcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"));
    let got = pm.matches_or_parent_matches(text).unwrap();
    assert_eq!(got, want, "MatchesOrParentMatches {patterns:?} {text:?}");

    let mut info = MatchInfo::default();
    for dir in parent_dirs(text) {
        info = pm.matches_using_parent_results(&dir, &info).unwrap().1;
    }
    let (got, _) = pm.matches_using_parent_results(text, &info).unwrap();
    assert_eq!(got, want, "MatchesUsingParentResults {patterns:?} {text:?}");

    let (got, _) = pm
        .matches_using_parent_results(text, &MatchInfo::default())
        .unwrap();
    assert_eq!(
        got, want,
        "MatchesUsingParentResults without context {patterns:?} {text:?}"
    );
}

#[test]
fn upstream_matches_table() {
    for &(p, text, want) in MATCHES {
        check(&[p], text, want);
    }
    for &(ps, text, want) in MULTI {
        check(ps, text, want);
    }
}

#[test]
fn upstream_small_cases() {
    let m = |file: &str, pats: &[&str]| matches_or_parent_matches(file, pats);
    assert!(m("fileutils.go", &["*"]).unwrap(), "wildcard");
    assert!(m("fileutils.go", &["*.go"]).unwrap(), "pattern");
    assert!(
        m("fileutils.go", &["!fileutils.go", "*.go"]).unwrap(),
        "exclusion before"
    );
    assert!(
        !m("docs/README.md", &["docs", "!docs/README.md"]).unwrap(),
        "folder exception"
    );
    assert!(
        !m("docs/README.md", &["docs/", "!docs/README.md"]).unwrap(),
        "folder/ exception"
    );
    assert!(
        !m("docs/README.md", &["docs/*", "!docs/README.md"]).unwrap(),
        "folder/* exception"
    );
    assert!(
        !m("fileutils.go", &["*.go", "!fileutils.go"]).unwrap(),
        "exclusion after"
    );
    assert!(
        !m(".", &["*.go"]).unwrap(),
        "the whole context is never excluded"
    );
    assert!(m("fileutils.go", &["!"]).is_err(), "single exclamation");
    assert!(
        !m("/any/path/there", &[] as &[&str]).unwrap(),
        "no patterns"
    );
    assert!(m("/any/path/there", &["["]).is_err(), "malformed");
}

#[test]
fn upstream_clean_patterns() {
    assert_eq!(
        PatternMatcher::new(&["docs", "config"])
            .unwrap()
            .patterns()
            .len(),
        2
    );
    assert_eq!(
        PatternMatcher::new(&["docs", "config", ""])
            .unwrap()
            .patterns()
            .len(),
        2
    );
    assert!(PatternMatcher::new(&["docs", "!docs/README.md"])
        .unwrap()
        .exclusions());
    assert!(PatternMatcher::new(&["docs", "  !docs/README.md"])
        .unwrap()
        .exclusions());
    assert!(PatternMatcher::new(&["docs", "!docs/README.md  "])
        .unwrap()
        .exclusions());
    assert!(PatternMatcher::new(&["!"]).is_err());
}

/// patternmatcher's compileTests: match type and generated regexp.
#[test]
fn upstream_compile_table() {
    use MatchKind::*;
    let table: &[(&str, MatchKind, &str)] = &[
        ("*", Regex, "^[^/]*$"),
        ("file*", Regex, "^file[^/]*$"),
        ("*file", Regex, "^[^/]*file$"),
        ("a*/b", Regex, "^a[^/]*/b$"),
        ("**", Suffix, ""),
        ("**/**", Regex, "^(.*/)?.*$"),
        ("dir/**", Prefix, ""),
        ("**/dir", Suffix, ""),
        ("**/dir2/*", Regex, "^(.*/)?dir2/[^/]*$"),
        ("**/dir2/**", Regex, "^(.*/)?dir2/.*$"),
        ("**file", Suffix, ""),
        ("**/file*txt", Regex, "^(.*/)?file[^/]*txt$"),
        ("**/**/*.txt", Regex, r"^(.*/)?(.*/)?[^/]*\.txt$"),
        ("a[b-d]e", Regex, "^a[b-d]e$"),
        (".*", Regex, r"^\.[^/]*$"),
        ("abc.def", Exact, ""),
        ("abc?def", Regex, "^abc[^/]def$"),
        ("**/foo/bar", Suffix, ""),
        ("a(b)c/def", Exact, ""),
        ("a.|)$(}+{bc", Exact, ""),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
            "",
        ),
    ];
    for &(pattern, kind, re) in table {
        let pm = PatternMatcher::new(&[pattern]).unwrap();
        let (got, src) = pm.patterns()[0].match_kind().unwrap();
        assert_eq!(got, kind, "{pattern}");
        if kind == Regex {
            assert_eq!(src, Some(re), "{pattern}");
        }
    }
}

/// Regression test for moby/moby#52203: passes the syntax check, fails (every time, without
/// panicking) when Go's regexp compiles it.
#[test]
fn upstream_malformed_regex_fails_repeatedly() {
    let pm = PatternMatcher::new(&["[Local-Only]/"]).expect("passes initial validation");
    assert!(pm.matches_or_parent_matches("x").is_err());
    assert!(pm.matches_or_parent_matches("x").is_err());
}

/// Go's filepath.Match tests (also run by patternmatcher through `Matches`):
/// (pattern, name, matches, bad pattern).
const GO_MATCH: &[(&str, &str, bool, bool)] = &[
    ("abc", "abc", true, false),
    ("*", "abc", true, false),
    ("*c", "abc", true, false),
    ("a*", "a", true, false),
    ("a*", "abc", true, false),
    ("a*", "ab/c", false, false),
    ("a*/b", "abc/b", true, false),
    ("a*/b", "a/c/b", false, false),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
    ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
    ("ab[c]", "abc", true, false),
    ("ab[b-d]", "abc", true, false),
    ("ab[e-g]", "abc", false, false),
    ("ab[^c]", "abc", false, false),
    ("ab[^b-d]", "abc", false, false),
    ("ab[^e-g]", "abc", true, false),
    ("a\\*b", "a*b", true, false),
    ("a\\*b", "ab", false, false),
    ("a?b", "a☺b", true, false),
    ("a[^a]b", "a☺b", true, false),
    ("a???b", "a☺b", false, false),
    ("a[^a][^a][^a]b", "a☺b", false, false),
    ("[a-ζ]*", "α", true, false),
    ("*[a-ζ]", "A", false, false),
    ("a?b", "a/b", false, false),
    ("a*b", "a/b", false, false),
    ("[\\]a]", "]", true, false),
    ("[\\-]", "-", true, false),
    ("[x\\-]", "x", true, false),
    ("[x\\-]", "-", true, false),
    ("[x\\-]", "z", false, false),
    ("[\\-x]", "x", true, false),
    ("[\\-x]", "-", true, false),
    ("[\\-x]", "a", false, false),
    ("[]a]", "]", false, true),
    ("[-]", "-", false, true),
    ("[x-]", "x", false, true),
    ("[x-]", "-", false, true),
    ("[x-]", "z", false, true),
    ("[-x]", "x", false, true),
    ("[-x]", "-", false, true),
    ("[-x]", "a", false, true),
    ("\\", "a", false, true),
    ("[a-b-c]", "a", false, true),
    ("[", "a", false, true),
    ("[^", "a", false, true),
    ("[^bc", "a", false, true),
    ("a[", "a", false, true),
    ("a[", "ab", false, true),
    ("a[", "x", false, true),
    ("a/b[", "x", false, true),
    ("*x", "xxx", true, false),
    // Go >= 1.20 also reports a malformed rest after an early mismatch.
    ("x*[", "y", false, true),
    ("a*\\", "b", false, true),
];

#[test]
fn go_filepath_match_table() {
    for &(pattern, name, want, bad) in GO_MATCH {
        let got = go_match(pattern, name);
        if bad {
            assert!(
                got.is_err(),
                "Match({pattern:?}, {name:?}) should be a bad pattern"
            );
        } else {
            assert_eq!(got, Ok(want), "Match({pattern:?}, {name:?})");
        }
    }
}

/// The same table through patternmatcher, as upstream's TestMatch runs it: the one
/// difference is that a matching parent directory ("ab" for `a*`) excludes its contents.
#[test]
fn go_match_table_through_patternmatcher() {
    for &(pattern, name, want, bad) in GO_MATCH {
        let want = want || (pattern, name) == ("a*", "ab/c");
        let got = matches_or_parent_matches(name, &[pattern]);
        if bad {
            assert!(got.is_err(), "{pattern:?} {name:?}");
        } else {
            assert_eq!(got.unwrap(), want, "{pattern:?} {name:?}");
        }
    }
}

/// What Docker actually does with characters patternmatcher hands to Go's regexp (each
/// expectation was produced by running upstream's Go code).
#[test]
fn regexp_quirks_follow_upstream() {
    let cases: &[(&[&str], &str, Result<bool, ()>)] = &[
        // '{', '|', '}' escape upstream's escape bitmap and act as regexp syntax.
        (&["a{2}*"], "aa.txt", Ok(true)),
        (&["a{2}*"], "a{2}x", Ok(false)),
        (&["?|"], "A/1", Ok(true)),
        (&["foo|bar*"], "bar/x", Ok(true)),
        (&["x{1001}*"], "x", Err(())),
        (&["x{,2}*"], "x{,2}y", Ok(true)),
        // Escapes and classes take Go's regexp meaning.
        (&["\\d*"], "7up", Ok(true)),
        (&["\\d*"], "dup", Ok(false)),
        (&["[[:digit:]]*"], "1x", Ok(true)),
        (&["\\pL?"], "éa", Ok(true)),
        (&["\\e*"], "e", Err(())),
        (&["\\Qa*"], "a[^/]*$", Ok(true)),
        (&["\\Qa*"], "ab", Ok(false)),
        (&["[*]"], "[^]", Ok(true)),
        // A '^' is an anchor, so a pattern with it in the middle never matches.
        (&["a^b*"], "a^bc", Ok(false)),
        // '.' in "**" does not cross a newline.
        (&["**/*.txt"], "a\nb/c.txt", Ok(false)),
    ];
    for (patterns, path, want) in cases {
        let got = PatternMatcher::new(patterns)
            .and_then(|pm| pm.matches_or_parent_matches(path))
            .map_err(|_| ());
        assert_eq!(&got, want, "{patterns:?} {path:?}");
    }
}

#[test]
fn exclusion_pattern_is_not_recleaned() {
    // New() cleans before splitting off '!', so "!./foo" keeps "./foo", which matches no
    // clean path (ignore files clean after the '!', so they never produce this).
    let pm = PatternMatcher::new(&["*", "!./foo"]).unwrap();
    assert!(pm.matches_or_parent_matches("foo").unwrap());
    assert_eq!(pm.patterns()[1].as_str(), "./foo");
    assert!(pm.patterns()[1].is_exclusion());
}

#[test]
fn match_info_from_another_matcher_is_refused() {
    let a = PatternMatcher::new(&["a", "b"]).unwrap();
    let b = PatternMatcher::new(&["a"]).unwrap();
    let (_, info) = a
        .matches_using_parent_results("x", &MatchInfo::default())
        .unwrap();
    assert!(b.matches_using_parent_results("x/y", &info).is_err());
}
