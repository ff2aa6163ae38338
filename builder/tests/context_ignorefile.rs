//! `.dockerignore` reading (docker's ignorefile.ReadAll, its TestReadAll plus edge cases
//! checked against the Go code) and the choice of ignore file (BuildKit's rule).

use std::fs;
use std::path::Path;
use strata_builder::context::{ignore_file_for, load_ignore, read_all, ContextError, MAX_LINE};

fn read(s: &str) -> Vec<String> {
    read_all(s.as_bytes(), Path::new(".dockerignore")).unwrap()
}

#[test]
fn upstream_read_all() {
    assert!(read("").is_empty());
    let content =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        read(content),
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
}

#[test]
fn read_all_edge_cases() {
    let cases: &[(&str, &[&str])] = &[
        // A BOM is dropped on the first line only.
        ("\u{feff}a\n\u{feff}b", &["a", "\u{feff}b"]),
        ("\u{feff}#comment\nx", &["x"]),
        // CRLF line ends; only the newline and one CR are line syntax.
        ("a\r\nb\r\r\n", &["a", "b"]),
        // '#' starts a comment only in the first column.
        ("  # not a comment", &["# not a comment"]),
        ("#x\n #y", &["#y"]),
        // Cleaning: dot segments, doubled and trailing slashes, a leading '/'.
        ("./a//b/../c/", &["a/c"]),
        ("/", &["/"]),
        ("//x", &["x"]),
        ("..", &[".."]),
        ("/../x", &["x"]),
        ("!  /a/./b ", &["!a/b"]),
        ("!/", &["!/"]),
        // Unicode white space is trimmed like Go's strings.TrimSpace.
        ("\u{a0}\u{2003}a\u{3000}\t", &["a"]),
        ("a b", &["a b"]),
    ];
    for (input, want) in cases {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(read(input), want, "{input:?}");
    }
}

#[test]
fn overlong_line_is_an_error_like_bufio_scanner() {
    let ok = "a".repeat(MAX_LINE);
    assert_eq!(read(&format!("{ok}\nb")), [ok.clone(), "b".to_string()]);
    assert_eq!(read(&ok), std::slice::from_ref(&ok));
    let long = "a".repeat(MAX_LINE + 1);
    let err = read_all(
        format!("x\n{long}\n").as_bytes(),
        Path::new("ctx/.dockerignore"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ContextError::IgnoreLineTooLong { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ctx/.dockerignore"), "{err}");
    assert!(read_all(long.as_bytes(), Path::new("x")).is_err());
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::write(c.join("Dockerfile"), "FROM scratch\n").unwrap();
    fs::write(c.join("Dockerfile2"), "FROM scratch\n").unwrap();
    assert_eq!(ignore_file_for(Some(&c.join("Dockerfile")), c), None);
    assert_eq!(
        load_ignore(Some(&c.join("Dockerfile")), c)
            .unwrap()
            .patterns
            .len(),
        0
    );

    fs::write(c.join(".dockerignore"), "foo\n").unwrap();
    assert_eq!(
        ignore_file_for(Some(&c.join("Dockerfile")), c),
        Some(c.join(".dockerignore"))
    );
    assert_eq!(ignore_file_for(None, c), Some(c.join(".dockerignore")));

    // BuildKit's testDockerignoreOverride: each Dockerfile has its own ignore file.
    fs::write(c.join("Dockerfile.dockerignore"), "bar\n").unwrap();
    fs::write(c.join("Dockerfile2.dockerignore"), "foo\n").unwrap();
    let one = load_ignore(Some(&c.join("Dockerfile")), c).unwrap();
    assert_eq!(one.path, Some(c.join("Dockerfile.dockerignore")));
    assert_eq!(one.patterns, ["bar"]);
    let two = load_ignore(Some(&c.join("Dockerfile2")), c).unwrap();
    assert_eq!(two.patterns, ["foo"]);
    // A Dockerfile from stdin has no name: only the context's .dockerignore applies.
    assert_eq!(load_ignore(None, c).unwrap().patterns, ["foo"]);
}

#[test]
fn ignore_file_beside_a_dockerfile_outside_the_context() {
    let ctx = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let df = elsewhere.path().join("app.Dockerfile");
    fs::write(&df, "FROM scratch\n").unwrap();
    fs::write(ctx.path().join(".dockerignore"), "ctx\n").unwrap();
    assert_eq!(
        ignore_file_for(Some(&df), ctx.path()),
        Some(ctx.path().join(".dockerignore"))
    );
    fs::write(
        elsewhere.path().join("app.Dockerfile.dockerignore"),
        "# c\nmine\n",
    )
    .unwrap();
    let got = load_ignore(Some(&df), ctx.path()).unwrap();
    assert_eq!(got.patterns, ["mine"]);
    // An empty FILE.dockerignore still takes precedence (it exists).
    fs::write(elsewhere.path().join("app.Dockerfile.dockerignore"), "").unwrap();
    assert!(load_ignore(Some(&df), ctx.path())
        .unwrap()
        .patterns
        .is_empty());
}

#[test]
fn directories_and_symlinks_as_ignore_files() {
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::create_dir(c.join(".dockerignore")).unwrap();
    assert_eq!(
        ignore_file_for(None, c),
        None,
        "a directory is not an ignore file"
    );
    fs::remove_dir(c.join(".dockerignore")).unwrap();
    fs::write(c.join("real-ignore"), "x\n").unwrap();
    std::os::unix::fs::symlink("real-ignore", c.join(".dockerignore")).unwrap();
    assert_eq!(
        load_ignore(None, c).unwrap().patterns,
        ["x"],
        "symlinks are followed"
    );
}
