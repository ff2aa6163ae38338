//! Walking the context into a ContextView: fsutil's walk order and exclusion rules
//! (including excluded directories with exceptions inside), symlinks kept as entries.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use strata_builder::context::{ContextError, ContextView, EntryKind};

/// Creates `spec` under `root`: `"d/"` a directory, `"l -> t"` a symlink, else a file
/// containing its own path.
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

fn walk(spec: &[&str], patterns: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), spec);
    let view = ContextView::open(dir.path(), patterns).unwrap();
    view.entries().iter().map(|e| e.path.clone()).collect()
}

#[test]
fn fsutil_walker_exclude() {
    // fsutil's TestWalkerExclude.
    let got = walk(&["bar", "foo/", "foo2", "foo/bar2"], &["foo*", "!foo/bar2"]);
    assert_eq!(got, ["bar", "foo", "foo/bar2"]);
}

#[test]
fn buildkit_dockerignore_test() {
    // BuildKit's testDockerignore: `COPY . .` sees foo and bay only.
    let spec = ["Dockerfile", "foo", "bar", "baz", "bay", ".dockerignore"];
    let got = walk(&spec, &["ba*", "Dockerfile", "!bay", ".dockerignore"]);
    assert_eq!(got, ["bay", "foo"]);
}

#[test]
fn walk_order_is_depth_first_with_bytewise_names() {
    let got = walk(&["a.b", "a/b", "a/a", "B", "_", "a-", "é"], &[]);
    assert_eq!(got, ["B", "_", "a", "a/a", "a/b", "a-", "a.b", "é"]);
}

#[test]
fn excluded_directory_is_entered_only_for_exceptions_inside_it() {
    let spec = [
        "docs/a.md",
        "docs/README.md",
        "docs/sub/x",
        "src/main.rs",
        "src/docs/y",
    ];
    assert_eq!(
        walk(&spec, &["docs"]),
        ["src", "src/docs", "src/docs/y", "src/main.rs"]
    );
    // The exception re-includes a file; its excluded parent comes back (with no other
    // content), as fsutil emits it.
    assert_eq!(
        walk(&spec, &["docs", "!docs/README.md"]),
        [
            "docs",
            "docs/README.md",
            "src",
            "src/docs",
            "src/docs/y",
            "src/main.rs"
        ]
    );
    // An exception for a directory brings back everything inside it.
    assert_eq!(
        walk(&spec, &["docs", "!docs/sub"]),
        [
            "docs",
            "docs/sub",
            "docs/sub/x",
            "src",
            "src/docs",
            "src/docs/y",
            "src/main.rs"
        ]
    );
    // Exceptions elsewhere do not make an excluded directory reappear.
    assert_eq!(
        walk(&spec, &["docs", "!src/main.rs"]),
        ["src", "src/docs", "src/docs/y", "src/main.rs"]
    );
}

#[test]
fn wildcard_exceptions_reach_into_excluded_directories() {
    let spec = ["a/keep.md", "a/x.txt", "b/c/keep.md", "b/c/y", "top.md"];
    assert_eq!(
        walk(&spec, &["*", "!**/*.md"]),
        ["a", "a/keep.md", "b", "b/c", "b/c/keep.md", "top.md"]
    );
    assert_eq!(walk(&spec, &["**", "!*/keep.md"]), ["a", "a/keep.md"]);
}

#[test]
fn last_matching_pattern_wins() {
    let spec = ["a.go", "b.go", "c.txt"];
    assert_eq!(walk(&spec, &["*.go", "!a.go"]), ["a.go", "c.txt"]);
    assert_eq!(walk(&spec, &["!a.go", "*.go"]), ["c.txt"]);
    assert_eq!(walk(&spec, &["*.go", "!a.go", "a.go"]), ["c.txt"]);
}

#[test]
fn patterns_are_anchored_at_the_root() {
    let spec = ["foo", "sub/foo", "sub/bar/foo"];
    assert_eq!(
        walk(&spec, &["foo"]),
        ["sub", "sub/bar", "sub/bar/foo", "sub/foo"]
    );
    assert_eq!(
        walk(&spec, &["*/foo"]),
        ["foo", "sub", "sub/bar", "sub/bar/foo"]
    );
    assert_eq!(walk(&spec, &["**/foo"]), ["sub", "sub/bar"]);
    // A leading slash means the same as none (after ReadAll), and so does "./".
    assert_eq!(walk(&spec, &["./sub"]), ["foo"]);
}

#[test]
fn symlinks_are_entries_and_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    make(
        dir.path(),
        &["real/file", "loop -> loop", "dangling -> nowhere"],
    );
    symlink(outside.path(), dir.path().join("out")).unwrap();
    symlink("real", dir.path().join("inlink")).unwrap();
    let view = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
    let paths: Vec<_> = view.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["dangling", "inlink", "loop", "out", "real", "real/file"]
    );
    assert_eq!(
        view.get("out").unwrap().kind,
        EntryKind::Symlink(outside.path().display().to_string())
    );
    assert_eq!(
        view.get("inlink").unwrap().kind,
        EntryKind::Symlink("real".into())
    );
    assert!(view.get("out/secret").is_none());
    assert!(view.descendants(view.get("inlink").unwrap()).is_empty());
}

#[test]
fn context_root_may_be_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), &["real/a"]);
    symlink("real", dir.path().join("ctx")).unwrap();
    let view = ContextView::open(&dir.path().join("ctx"), &[] as &[&str]).unwrap();
    assert_eq!(
        view.root(),
        fs::canonicalize(dir.path().join("real")).unwrap()
    );
    assert_eq!(view.entries().len(), 1);
}

#[test]
fn entries_carry_metadata_and_descendants() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), &["d/x", "d/y/z", "e"]);
    fs::set_permissions(dir.path().join("d/x"), fs::Permissions::from_mode(0o751)).unwrap();
    let view = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
    let x = view.get("d/x").unwrap();
    assert_eq!(x.kind, EntryKind::File);
    assert_eq!(x.meta.permissions(), 0o751);
    assert_eq!(x.meta.size, 3);
    assert_eq!(x.name(), "x");
    let d = view.get("d").unwrap();
    let below: Vec<_> = view
        .descendants(d)
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(below, ["d/x", "d/y", "d/y/z"]);
    assert_eq!(view.descendants(view.root_entry()).len(), 5);
    assert_eq!(view.host_path(x), view.root().join("d/x"));
}

#[test]
fn special_files_are_entries() {
    let dir = tempfile::tempdir().unwrap();
    let sock = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    let view = ContextView::open(dir.path(), &[] as &[&str]).unwrap();
    assert_eq!(view.get("sock").unwrap().kind, EntryKind::Socket);
    drop(sock);
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = ContextView::open(&missing, &[] as &[&str]).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    fs::write(dir.path().join("file"), "").unwrap();
    let err = ContextView::open(&dir.path().join("file"), &[] as &[&str]).unwrap_err();
    assert!(matches!(err, ContextError::NotADirectory { .. }), "{err}");
    let err = ContextView::open(dir.path(), &["["]).unwrap_err();
    assert_eq!(err.to_string(), "syntax error in pattern \"[\"");
    let err = ContextView::open(dir.path(), &["!"]).unwrap_err();
    assert_eq!(err.to_string(), "illegal exclusion pattern: \"!\"");
}

#[test]
fn non_utf8_names_are_refused_unless_excluded() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = OsStr::from_bytes(b"bad\xff");
    fs::create_dir(dir.path().join("junk")).unwrap();
    fs::write(dir.path().join("junk").join(bad), "").unwrap();
    assert!(matches!(
        ContextView::open(dir.path(), &[] as &[&str]),
        Err(ContextError::NonUtf8Name { .. })
    ));
    let view = ContextView::open(dir.path(), &["junk"]).unwrap();
    assert!(view.entries().is_empty());
}
