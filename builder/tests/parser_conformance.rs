//! BuildKit's Dockerfile parser corpora (shared/conformance): golden dumps, refused
//! files, heredoc cases and line numbers. A missing corpus fails the tests.

use std::fs;
use std::path::{Path, PathBuf};

use strata_builder::dockerfile::dump::{dump, dump_heredocs};
use strata_builder::dockerfile::parser::parse;

fn corpus(sub: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance")
        .join(sub);
    assert!(
        dir.is_dir(),
        "conformance corpus missing: {} (shared/ must sit beside the checkout)",
        dir.display()
    );
    dir
}

/// The case directories under `sub`, sorted.
fn cases(sub: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(corpus(sub))
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn golden_dumps() {
    let dirs = cases("buildkit-parser/testfiles");
    assert_eq!(dirs.len(), 33, "expected 33 golden cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let source = read(&dir.join("Dockerfile"));
        let expected = read(&dir.join("result"));
        match parse(&source) {
            Ok(ast) => {
                let got = dump(&ast);
                if got != expected {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}--- got\n{got}",
                        dir.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: error {e}", dir.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn negative_files_are_refused() {
    let dirs = cases("buildkit-parser/testfiles-negative");
    assert_eq!(dirs.len(), 4, "expected 4 negative cases");
    for dir in &dirs {
        let source = read(&dir.join("Dockerfile"));
        assert!(parse(&source).is_err(), "{} parsed", dir.display());
    }
}

#[test]
fn heredoc_cases() {
    let dirs = cases("buildkit-heredoc");
    assert_eq!(dirs.len(), 36, "expected 36 heredoc cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let source = read(&dir.join("Dockerfile"));
        let error = dir.join("error");
        if error.exists() {
            let want = read(&error);
            let want = want.trim().trim_start_matches("ERROR:").trim();
            match parse(&source) {
                Ok(_) => failures.push(format!("{}: parsed, want {want}", dir.display())),
                Err(e) if !e.to_string().contains(want) => {
                    failures.push(format!("{}: error {e}, want {want}", dir.display()))
                }
                Err(_) => {}
            }
            continue;
        }
        let ast = match parse(&source) {
            Ok(ast) => ast,
            Err(e) => {
                failures.push(format!("{}: error {e}", dir.display()));
                continue;
            }
        };
        for (file, got) in [("result", dump(&ast)), ("heredocs", dump_heredocs(&ast))] {
            let expected = read(&dir.join(file));
            if got != expected {
                failures.push(format!(
                    "{} {file}:\n--- expected\n{expected}--- got\n{got}",
                    dir.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn line_numbers() {
    // BuildKit's TestParseIncludesLineNumbers: children at 5-5, 11-12, 17-31.
    let dir = corpus("buildkit-parser/testfile-line");
    let source = read(&dir.join("Dockerfile"));
    let ast = parse(&source).expect("parse testfile-line");
    let lines: Vec<(usize, usize)> = ast
        .children
        .iter()
        .map(|c| (c.start_line, c.end_line))
        .collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
    // The spans cover the instruction text, continuation lines included.
    let spans: Vec<&str> = ast
        .children
        .iter()
        .map(|c| &source[c.span.clone()])
        .collect();
    assert_eq!(spans[0], "FROM brimstone/ubuntu:14.04");
    assert_eq!(spans[1], "ENV GOPATH \\\n/go");
    assert!(spans[2].starts_with("RUN apt-get update \\\n"));
    assert!(spans[2].ends_with("&& rm -rf $GOPATH"));
}
