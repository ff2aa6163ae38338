//! Every Dockerfile of BuildKit's parser and heredoc corpora (shared/conformance) goes
//! through compile and check without a panic, and each error or warning points at a line of
//! the file.

use std::path::{Path, PathBuf};

use strata_builder::graph::{check, compile, FrontendOptions, Platform};

fn dockerfiles() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    let mut out = Vec::new();
    for corpus in [
        "buildkit-parser/testfiles",
        "buildkit-parser/testfiles-negative",
        "buildkit-heredoc",
    ] {
        let Ok(dir) = std::fs::read_dir(root.join(corpus)) else {
            continue;
        };
        for e in dir.flatten() {
            let f = e.path().join("Dockerfile");
            if f.exists() {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_compiles_or_fails_cleanly() {
    let files = dockerfiles();
    assert!(
        files.len() >= 60,
        "conformance corpus not found ({} files)",
        files.len()
    );
    let opts = FrontendOptions {
        build_platform: Platform::new("linux", "amd64", ""),
        ..FrontendOptions::default()
    };
    let mut compiled = 0;
    for f in &files {
        let src = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        let lines = src.lines().count().max(1);
        match compile(&src, &opts) {
            Ok(g) => {
                compiled += 1;
                assert!(!g.stages.is_empty());
                assert!(g.levels().iter().flatten().count() == g.stages.len());
            }
            Err(e) => {
                for l in &e.locations {
                    assert!(l.start >= 1 && l.end <= lines + 1, "{f:?}: {e:?}");
                }
                let _ = e.render(&src, "Dockerfile");
            }
        }
        let r = check(&src, "Dockerfile", &opts);
        for w in &r.warnings {
            let l = w.location.expect("warnings have a line");
            assert!(l.start >= 1 && l.start <= lines + 1, "{f:?}: {w:?}");
        }
        let _ = r.render(&src);
    }
    assert!(
        compiled >= 30,
        "only {compiled} of {} compiled",
        files.len()
    );
}
