//! `commit`, `diff` and `export` of a container made by `container::create`: its upper dir
//! changed through a real overlay mount on its image's snapshots (renames by redirect when
//! the kernel allows it), then committed into the store. Needs root (overlay mounts); says so
//! and passes otherwise.

mod layer_support;

use layer_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_builder::container::commit::{commit, CommitRequest, EMPTY_LAYER_DIFF_ID};
use strata_builder::container::create::{create, CreateOptions};
use strata_builder::container::diff::diff;
use strata_builder::container::export::export;
use strata_builder::container::ContainerStore;
use strata_builder::image::{export_rootfs_dir, find_image, import_image, ImportOptions};
use strata_builder::layer::{decompress, extract_layer, ExtractOptions, LayerOptions};
use strata_cache::oci::ContainerConfig;
use strata_cache::Store;

fn view(root: &Path) -> BTreeMap<PathBuf, (&'static str, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .map(|(p, n)| (p, (n.kind, n.content)))
        .collect()
}

/// A one-layer image `base:1` (CMD sh, PATH set) in a fresh store.
fn store_with_base(t: &Path) -> Store {
    let tree = t.join("tree");
    for (p, c) in [
        ("bin/old", "old"),
        ("bin/keep", "keep"),
        ("etc/passwd", "root"),
        ("data/f", "f"),
        ("data/sub/g", "g"),
        ("var/a", "a"),
    ] {
        let path = tree.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, c).unwrap();
    }
    let (_, tar) = write(&tree, &LayerOptions::default());
    let store = Store::open(t.join("store")).unwrap();
    let config = ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        env: Some(vec!["PATH=/bin".into()]),
        ..Default::default()
    };
    let opts = ImportOptions {
        message: None,
        source: "-".into(),
        config,
        created: chrono::Utc::now(),
    };
    import_image(
        &store,
        &tar[..],
        &opts,
        &["docker.io/library/base:1".into()],
    )
    .unwrap();
    store
}

/// Mounts the container's overlay, lets `f` change it, unmounts; returns what it showed.
fn in_container(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    at: &Path,
    f: impl FnOnce(&Path),
) -> Option<BTreeMap<PathBuf, (&'static str, Vec<u8>)>> {
    std::fs::create_dir_all(work).unwrap();
    std::fs::create_dir_all(at).unwrap();
    let lower: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    for extra in ["redirect_dir=on", "redirect_dir=off"] {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},index=off,metacopy=off,{extra}",
            lower.join(":"),
            upper.display(),
            work.display()
        );
        let ok = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            f(at);
            let seen = view(at);
            assert!(Command::new("umount").arg(at).status().unwrap().success());
            return Some(seen);
        }
    }
    None
}

fn request(changes: &[&str], tags: &[&str]) -> CommitRequest {
    CommitRequest {
        changes: changes.iter().map(|s| s.to_string()).collect(),
        message: Some("msg".into()),
        author: Some("me <me@example.com>".into()),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        pause: true,
        created: chrono::Utc::now(),
        compression: Default::default(),
    }
}

#[test]
fn commit_diff_and_export_of_a_created_container() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: overlay mounts need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = store_with_base(t.path());
    let containers = ContainerStore::new(store.clone());
    let opts = CreateOptions {
        image: "base:1".into(),
        name: Some("c1".into()),
        cmd: vec!["sh".into(), "-c".into(), "echo hi > /x".into()],
        env: vec!["X=1".into()],
        ..Default::default()
    };
    let c = create(&store, &opts).unwrap();
    let lowers = c.lowers(&store).unwrap();
    let upper = c.upper_dir(&store);
    let Some(expected) = in_container(
        &lowers,
        &upper,
        &t.path().join("work"),
        &t.path().join("merged"),
        |m| {
            std::fs::write(m.join("x"), "hi\n").unwrap();
            std::fs::write(m.join("etc/passwd"), "root2").unwrap();
            std::fs::remove_file(m.join("bin/old")).unwrap();
            std::fs::remove_dir_all(m.join("var")).unwrap();
            std::fs::rename(m.join("data"), m.join("data2"))
                .or_else(|_| {
                    Command::new("mv")
                        .arg(m.join("data"))
                        .arg(m.join("data2"))
                        .status()
                        .map(|_| ())
                })
                .unwrap();
            std::fs::write(m.join("etc/hosts"), "").unwrap();
            std::fs::create_dir(m.join("proc")).unwrap();
        },
    ) else {
        eprintln!("skipping: overlay mount failed");
        return;
    };

    let lines: Vec<String> = diff(&containers, "c1")
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "C /bin",
            "D /bin/old",
            "D /data",
            "A /data2",
            "A /data2/f",
            "A /data2/sub",
            "A /data2/sub/g",
            "C /etc",
            "C /etc/passwd",
            "D /var",
            "A /x",
        ]
    );

    let req = request(
        &[r#"CMD ["cat","/x"]"#, "ENV A=b"],
        &["docker.io/library/img:1"],
    );
    let committed = commit(&containers, &c.id().hex()[..12], &req).unwrap();
    let image = find_image(&store, "img:1").unwrap();
    assert_eq!(image.id, committed.id);
    let base = find_image(&store, "base:1").unwrap();
    assert_eq!(
        image.config.rootfs.diff_ids.len(),
        base.config.rootfs.diff_ids.len() + 1
    );
    assert_eq!(image.manifest.layers.len(), 2);
    let cfg = image.config.config.clone().unwrap();
    assert_eq!(cfg.cmd, Some(vec!["cat".to_string(), "/x".to_string()]));
    assert_eq!(
        cfg.env,
        Some(vec!["A=b".into(), "PATH=/bin".into(), "X=1".into()])
    );
    assert_eq!(image.config.author.as_deref(), Some("me <me@example.com>"));
    let h = image.config.history.last().unwrap();
    assert_eq!(h.created_by.as_deref(), Some("sh -c echo hi > /x"));
    assert_eq!(h.comment.as_deref(), Some("msg"));
    assert_eq!(h.author.as_deref(), Some("me <me@example.com>"));
    assert!(!h.empty_layer);
    assert_eq!(image.config.extra["container"], c.id().hex());

    // The image's file system is what the container saw, minus the runtime's stubs.
    let mut want = expected.clone();
    want.remove(Path::new("etc/hosts")).unwrap();
    want.remove(Path::new("proc")).unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    export_rootfs_dir(&store, &image, &rootfs).unwrap();
    assert_eq!(view(&rootfs), want);

    // export: the container's file system as it saw it (stubs included, as docker's).
    let mut tar = Vec::new();
    export(&containers, "c1", &mut tar).unwrap();
    let flat = t.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    let (_, r) = decompress(std::io::BufReader::new(&tar[..])).unwrap();
    extract_layer(r, &flat, &ExtractOptions::default()).unwrap();
    assert_eq!(view(&flat), expected);

    // A refused change writes nothing.
    let before = store.list_blobs().unwrap();
    let err = commit(&containers, "c1", &request(&["RUN true"], &[])).unwrap_err();
    assert!(
        err.to_string().contains("not a valid change command"),
        "{err}"
    );
    assert_eq!(store.list_blobs().unwrap(), before);

    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn a_container_that_changed_nothing_commits_an_empty_layer_entry() {
    let t = tempfile::tempdir().unwrap();
    let store = store_with_base(t.path());
    let containers = ContainerStore::new(store.clone());
    let opts = CreateOptions {
        image: "base:1".into(),
        ..Default::default()
    };
    let c = create(&store, &opts).unwrap();
    // Only the runtime's stubs.
    let upper = c.upper_dir(&store);
    std::fs::create_dir_all(upper.join("proc")).unwrap();
    std::fs::create_dir_all(upper.join("sys")).unwrap();
    assert!(diff(&containers, c.name()).unwrap().is_empty());
    let committed = commit(&containers, c.name(), &request(&[], &[])).unwrap();
    assert_eq!(committed.diff_id, None);
    let image = find_image(&store, &committed.id.hex()).unwrap();
    let base = find_image(&store, "base:1").unwrap();
    assert_eq!(image.config.rootfs, base.config.rootfs);
    assert_eq!(image.manifest.layers, base.manifest.layers);
    let h = image.config.history.last().unwrap();
    assert!(h.empty_layer);
    assert_eq!(h.created_by.as_deref(), Some("sh"));
    // Unnamed: a dangling image, as docker's `commit` without a name makes.
    assert!(image.entry.names.is_empty());
    assert_ne!(
        EMPTY_LAYER_DIFF_ID,
        base.config.rootfs.diff_ids[0].to_string()
    );
    assert!(store.check(false).unwrap().is_clean());
}
