//! COPY/ADD source selection: BuildKit's cleaning, `filepath.Match` wildcards, symlinks
//! resolved inside the context, and docker's errors.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use strata_builder::context::{clean_source, ContextError, ContextView, Entry, EntryKind};

fn make(root: &Path, spec: &[&str]) {
    for item in spec {
        if let Some((link, target)) = item.split_once(" -> ") {
            let p = root.join(link);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
        } else if let Some(dir) = item.strip_suffix('/') {
            fs::create_dir_all(root.join(dir)).unwrap();
        } else {
            let p = root.join(item);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, item).unwrap();
        }
    }
}

struct Ctx {
    _dir: tempfile::TempDir,
    view: ContextView,
}

fn ctx(spec: &[&str], ignore: &[&str]) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), spec);
    let view = ContextView::open(dir.path(), ignore).unwrap();
    Ctx { _dir: dir, view }
}

impl Ctx {
    fn select(&self, sources: &[&str]) -> Result<Vec<Entry>, ContextError> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        self.view.select(&sources)
    }

    /// (path, resolved) pairs of a selection.
    fn names(&self, sources: &[&str]) -> Vec<(String, String)> {
        self.select(sources)
            .unwrap_or_else(|e| panic!("{sources:?}: {e}"))
            .into_iter()
            .map(|e| (e.path, e.resolved))
            .collect()
    }

    fn paths(&self, sources: &[&str]) -> Vec<String> {
        self.names(sources).into_iter().map(|(p, _)| p).collect()
    }

    fn err(&self, sources: &[&str]) -> String {
        match self.select(sources) {
            Ok(v) => panic!("{sources:?} selected {v:?}"),
            Err(e) => e.to_string(),
        }
    }
}

const TREE: &[&str] = &[
    "a.txt",
    "b.txt",
    "c.md",
    "src/main.rs",
    "src/lib.rs",
    "src/util/x.rs",
    "docs/a.txt",
    "docs/deep/b.txt",
    "weird[1].txt",
    "star*name",
];

#[test]
fn plain_sources() {
    let c = ctx(TREE, &[]);
    assert_eq!(c.paths(&["a.txt"]), ["a.txt"]);
    assert_eq!(c.paths(&["./src/"]), ["src"]);
    assert_eq!(c.paths(&["src//util/../main.rs"]), ["src/main.rs"]);
    assert_eq!(c.paths(&["/src/lib.rs"]), ["src/lib.rs"]);
    let root = c.select(&["."]).unwrap();
    assert_eq!(root[0].path, "");
    assert!(root[0].is_dir());
    // Sources keep their order; duplicates stay (COPY copies them twice).
    assert_eq!(
        c.paths(&["c.md", "a.txt", "c.md"]),
        ["c.md", "a.txt", "c.md"]
    );
}

#[test]
fn missing_sources_are_docker_errors() {
    let c = ctx(TREE, &[]);
    assert_eq!(c.err(&["nope"]), "\"/nope\": not found");
    assert_eq!(
        c.err(&["a.txt", "src/nope.rs"]),
        "\"/src/nope.rs\": not found"
    );
    assert_eq!(c.err(&["a.txt/x"]), "\"/a.txt/x\": not found");
    assert!(matches!(c.select(&["nope"]), Err(ContextError::NotFound { path }) if path == "/nope"));
    // A wildcard under a missing directory names the directory.
    assert_eq!(c.err(&["nodir/*.txt"]), "\"/nodir\": not found");
}

#[test]
fn parent_references_are_clamped_at_the_context_root() {
    let c = ctx(TREE, &[]);
    // BuildKit reads "../a.txt" as "/a.txt": never outside the context.
    assert_eq!(c.paths(&["../a.txt"]), ["a.txt"]);
    assert_eq!(c.paths(&["../../../src/../b.txt"]), ["b.txt"]);
    assert_eq!(c.err(&["../x"]), "\"/x\": not found");
    let s = clean_source("../x");
    assert_eq!((s.path.as_str(), s.clamped), ("/x", true));
    assert!(!clean_source("src/../a.txt").clamped);
}

#[test]
fn wildcards_match_per_component() {
    let c = ctx(TREE, &[]);
    assert_eq!(c.paths(&["*.txt"]), ["a.txt", "b.txt", "weird[1].txt"]);
    assert_eq!(c.paths(&["*/*.txt"]), ["docs/a.txt"]);
    assert_eq!(c.paths(&["src/*.rs"]), ["src/lib.rs", "src/main.rs"]);
    assert_eq!(c.paths(&["?.md"]), ["c.md"]);
    assert_eq!(c.paths(&["[ab].txt"]), ["a.txt", "b.txt"]);
    assert_eq!(c.paths(&["[^a].txt"]), ["b.txt"]);
    assert_eq!(
        c.paths(&["weird[[]1].txt", "weird\\[1\\]*"]),
        ["weird[1].txt", "weird[1].txt"]
    );
    assert_eq!(c.paths(&["*\\*name"]), ["star*name"]);
    // Without an unescaped wildcard a source is a literal path, backslashes included
    // (BuildKit's containsWildcards skips escaped characters).
    assert_eq!(c.err(&["star\\*name"]), "\"/star\\\\*name\": not found");
    // A matching directory is selected whole, not descended into.
    assert_eq!(c.paths(&["*"]).len(), 7);
    assert_eq!(c.paths(&["d*"]), ["docs"]);
    assert_eq!(c.paths(&["docs/*"]), ["docs/a.txt", "docs/deep"]);
}

#[test]
fn empty_wildcards_select_nothing() {
    // BuildKit's testEmptyWildcard: `COPY foo nomatch* /` copies foo.
    let c = ctx(&["foo"], &[]);
    assert_eq!(c.paths(&["foo", "nomatch*"]), ["foo"]);
    assert!(c.paths(&["*.none"]).is_empty());
}

#[test]
fn bad_wildcards_are_errors() {
    let c = ctx(TREE, &[]);
    assert!(matches!(
        c.select(&["a["]),
        Err(ContextError::BadPattern { .. })
    ));
    assert!(matches!(
        c.select(&["src/[x-"]),
        Err(ContextError::BadPattern { .. })
    ));
}

#[test]
fn excluded_files_cannot_be_selected() {
    let c = ctx(TREE, &["*.md", "src/util"]);
    assert_eq!(c.err(&["c.md"]), "\"/c.md\": not found");
    assert_eq!(c.err(&["src/util/x.rs"]), "\"/src/util/x.rs\": not found");
    assert!(c.paths(&["*.md"]).is_empty());
    let src = &c.select(&["src"]).unwrap()[0];
    let below: Vec<_> = c
        .view
        .descendants(src)
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(below, ["src/lib.rs", "src/main.rs"]);
}

#[test]
fn symlinked_sources_are_followed_inside_the_context() {
    let c = ctx(
        &[
            "real/f",
            "real/inner -> f",
            "dirlink -> real",
            "filelink -> real/f",
            "abs -> /real/f",
            "up -> ../../real",
            "chain -> dirlink/inner",
        ],
        &[],
    );
    let sel = c.select(&["dirlink"]).unwrap();
    assert_eq!(
        (sel[0].path.as_str(), sel[0].resolved.as_str()),
        ("dirlink", "real")
    );
    assert!(sel[0].is_dir());
    // The directory's contents are taken as they are: symlinks inside stay symlinks.
    let below = c.view.descendants(&sel[0]);
    assert_eq!(below[1].kind, EntryKind::Symlink("f".into()));
    assert_eq!(
        c.names(&["filelink"]),
        [("filelink".into(), "real/f".into())]
    );
    // Absolute targets and ".." resolve from the context root, never the host's.
    assert_eq!(c.names(&["abs"]), [("abs".into(), "real/f".into())]);
    assert_eq!(c.names(&["up/f"]), [("up/f".into(), "real/f".into())]);
    assert_eq!(c.names(&["chain"]), [("chain".into(), "real/f".into())]);
    assert_eq!(
        c.names(&["dirlink/inner"]),
        [("dirlink/inner".into(), "real/f".into())]
    );
    // Wildcards: the prefix is resolved, matched symlinks are followed.
    assert_eq!(
        c.names(&["dirlink/*"]),
        [
            ("dirlink/f".into(), "real/f".into()),
            ("dirlink/inner".into(), "real/f".into())
        ]
    );
    assert_eq!(c.names(&["file*"]), [("filelink".into(), "real/f".into())]);
}

#[test]
fn symlinks_out_of_the_context_are_not_found() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();
    let target = outside.path().join("secret").display().to_string();
    let c = ctx(
        &[
            &format!("leak -> {target}"),
            "rel -> ../../../../../../etc/passwd",
            "dangling -> nowhere",
        ],
        &[],
    );
    assert_eq!(c.err(&["leak"]), "\"/leak\": not found");
    assert_eq!(c.err(&["rel"]), "\"/rel\": not found");
    assert_eq!(c.err(&["dangling"]), "\"/dangling\": not found");
    assert_eq!(c.err(&["dang*"]), "\"/dangling\": not found");
    // The link itself is still part of the context (a directory copy keeps it as a link).
    assert!(matches!(
        c.view.get("leak").unwrap().kind,
        EntryKind::Symlink(_)
    ));
}

#[test]
fn symlink_loops_are_errors() {
    let c = ctx(&["loop -> loop", "a -> b", "b -> a"], &[]);
    assert_eq!(c.err(&["loop"]), "\"/loop\": too many links");
    assert!(matches!(
        c.select(&["a/x"]),
        Err(ContextError::TooManyLinks { .. })
    ));
}
