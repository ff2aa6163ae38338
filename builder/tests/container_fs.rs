//! diff / commit layer / export of a container's overlay upper dir: on upper dirs fabricated
//! the way overlayfs leaves them (0/0 whiteouts, opaque dirs, renames by copy and by
//! `redirect`, relative and absolute), and on real overlay mounts with `redirect_dir` off and
//! on. Needs root (whiteout devices, trusted xattrs, mounts); says so and passes otherwise.

mod layer_support;

use layer_support::*;
use rustix::fs::FileType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_builder::container::commit::stub_candidates;
use strata_builder::container::diff::{changes, runtime_stubs};
use strata_builder::layer::{
    decompress, extract_layer, write_merged_tree, write_upper_layer, ExtractOptions,
    LayerCompression, LayerOptions,
};

fn root() -> bool {
    let ok = rustix::process::geteuid().is_root();
    if !ok {
        eprintln!("skipping: needs root (whiteout devices, trusted xattrs)");
    }
    ok
}

fn file(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn whiteout(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    mknod(path, FileType::CharacterDevice, 0, 0, 0);
}

/// Gives `upper`'s copy of a directory the metadata of `lower`'s (a copy-up).
fn copied_up(lower: &Path, upper: &Path) {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(upper).unwrap();
    let m = std::fs::metadata(lower).unwrap();
    chmod(upper, m.mode() & 0o7777);
    let t = rustix::fs::Timespec {
        tv_sec: m.mtime(),
        tv_nsec: m.mtime_nsec() as _,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        upper,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
}

/// Kind and content of every path.
fn view(root: &Path) -> BTreeMap<PathBuf, (&'static str, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .map(|(p, n)| (p, (n.kind, n.content)))
        .collect()
}

fn extract(blob: &[u8], dest: &Path) {
    let (_, tar) = decompress(std::io::BufReader::new(blob)).unwrap();
    extract_layer(tar, dest, &ExtractOptions::default()).unwrap();
}

fn diff_lines(lowers: &[PathBuf], upper: &Path) -> Vec<String> {
    let stubs = runtime_stubs(lowers, upper, &stub_candidates(&[])).unwrap();
    changes(lowers, upper, &stubs)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect()
}

fn upper_layer(lowers: &[PathBuf], upper: &Path) -> Vec<u8> {
    let stubs = runtime_stubs(lowers, upper, &stub_candidates(&[])).unwrap();
    let mut blob = Vec::new();
    let opts = LayerOptions {
        compression: LayerCompression::Gzip(1),
        ..LayerOptions::default()
    };
    write_upper_layer(upper, lowers, &stubs, &opts, &mut blob).unwrap();
    blob
}

fn flattened(layers: &[PathBuf], dest: &Path) {
    let mut tar = Vec::new();
    write_merged_tree(layers, &LayerOptions::default(), &mut tar).unwrap();
    std::fs::create_dir_all(dest).unwrap();
    extract(&tar, dest);
}

/// The image: a plain bottom layer and one unpacked as an overlay lower dir (a whiteout and
/// an opaque directory), as snapshots are.
fn image(t: &Path) -> (PathBuf, PathBuf) {
    let l1 = t.join("l1");
    for (p, c) in [
        ("bin/old", "old"),
        ("bin/keep", "keep"),
        ("etc/passwd", "root"),
        ("etc/group", "g"),
        ("data/f", "f"),
        ("data/sub/g", "g"),
        ("lib/l1", "l1"),
        ("lib/inner/l2", "l2"),
        ("opt/sub/s", "s"),
        ("opt/other", "o"),
        ("var/a", "a"),
        ("var/b", "b"),
        ("gone/x", "x"),
        ("hidden/y", "y"),
    ] {
        file(&l1.join(p), c);
        set_mtime(&l1.join(p), 1_600_000_000);
    }
    let l2 = t.join("l2");
    whiteout(&l2.join("gone"));
    file(&l2.join("hidden/z"), "z");
    set_xattr(&l2.join("hidden"), "trusted.overlay.opaque", b"y");
    for d in [
        "bin",
        "etc",
        "data",
        "data/sub",
        "lib",
        "lib/inner",
        "opt",
        "opt/sub",
        "var",
    ] {
        set_mtime(&l1.join(d), 1_600_000_000);
    }
    set_mtime(&l2.join("hidden"), 1_600_000_100);
    (l1, l2)
}

#[test]
fn fabricated_upper_dir_diff_layer_and_export_agree() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l1, l2) = image(t.path());
    let up = t.path().join("upper");
    std::fs::create_dir(&up).unwrap();
    file(&up.join("new.txt"), "new");
    file(&up.join("etc/passwd"), "root2");
    file(&up.join("etc/hosts"), "");
    std::fs::create_dir(up.join("proc")).unwrap();
    copied_up(&l1.join("etc"), &up.join("etc"));
    whiteout(&up.join("bin/old"));
    copied_up(&l1.join("bin"), &up.join("bin"));
    // data -> data2 by copy and delete (redirect_dir=off); newer kernels make it opaque.
    whiteout(&up.join("data"));
    file(&up.join("data2/f"), "f");
    file(&up.join("data2/sub/g"), "g");
    set_xattr(&up.join("data2"), "trusted.overlay.opaque", b"y");
    // lib -> lib2 with a relative redirect, then lib2/l1 deleted and lib2/added made.
    whiteout(&up.join("lib"));
    file(&up.join("lib2/added"), "+");
    whiteout(&up.join("lib2/l1"));
    set_xattr(&up.join("lib2"), "trusted.overlay.redirect", b"lib");
    // opt/sub -> srv/sub2 with an absolute redirect.
    whiteout(&up.join("opt/sub"));
    copied_up(&l1.join("opt"), &up.join("opt"));
    std::fs::create_dir_all(up.join("srv/sub2")).unwrap();
    set_xattr(
        &up.join("srv/sub2"),
        "trusted.overlay.redirect",
        b"/opt/sub",
    );
    // var emptied and refilled.
    file(&up.join("var/b"), "B2");
    file(&up.join("var/c"), "c");
    set_xattr(&up.join("var"), "trusted.overlay.opaque", b"y");
    file(&up.join("hidden/new"), "n");
    copied_up(&l2.join("hidden"), &up.join("hidden"));

    let lowers = vec![l1.clone(), l2.clone()];
    assert_eq!(
        diff_lines(&lowers, &up),
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
            "C /hidden",
            "A /hidden/new",
            "D /lib",
            "A /lib2",
            "A /lib2/added",
            "A /lib2/inner",
            "A /lib2/inner/l2",
            "A /new.txt",
            "C /opt",
            "D /opt/sub",
            "A /srv",
            "A /srv/sub2",
            "A /srv/sub2/s",
            "C /var",
            "D /var/a",
            "C /var/b",
            "A /var/c",
        ]
    );

    let blob = upper_layer(&lowers, &up);
    let names: Vec<String> = list(&blob).into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            ".wh.data",
            ".wh.lib",
            "bin/",
            "bin/.wh.old",
            "data2/",
            "data2/.wh..wh..opq",
            "data2/f",
            "data2/sub/",
            "data2/sub/g",
            "etc/",
            "etc/passwd",
            "hidden/",
            "hidden/new",
            "lib2/",
            "lib2/.wh..wh..opq",
            "lib2/added",
            "lib2/inner/",
            "lib2/inner/l2",
            "new.txt",
            "opt/",
            "opt/.wh.sub",
            "srv/",
            "srv/sub2/",
            "srv/sub2/.wh..wh..opq",
            "srv/sub2/s",
            "var/",
            "var/.wh..wh..opq",
            "var/b",
            "var/c",
        ]
    );
    for e in list(&blob) {
        assert!(
            e.xattrs.keys().all(|k| !k.contains("overlay")),
            "{}",
            e.name
        );
    }

    // The image's layers, then the commit layer, applied: what the export flattens.
    let applied = t.path().join("applied");
    std::fs::create_dir(&applied).unwrap();
    extract(&write(&l1, &LayerOptions::default()).1, &applied);
    let as_upper = LayerOptions {
        overlay_whiteouts: true,
        ..LayerOptions::default()
    };
    extract(&write(&l2, &as_upper).1, &applied);
    extract(&blob, &applied);
    let flat = t.path().join("flat");
    flattened(&[l1, l2, up.clone()], &flat);
    let mut exported = view(&flat);
    // The export keeps the runtime's stubs, as docker's (its init layer) does.
    assert_eq!(exported.remove(Path::new("etc/hosts")).unwrap().0, "file");
    assert_eq!(exported.remove(Path::new("proc")).unwrap().0, "dir");
    assert_eq!(view(&applied), exported);
    let has = |p: &str| exported.contains_key(Path::new(p));
    for p in [
        "data2/sub/g",
        "lib2/inner/l2",
        "lib2/added",
        "srv/sub2/s",
        "var/c",
        "hidden/z",
    ] {
        assert!(has(p), "{p}");
    }
    for p in [
        "data", "lib", "lib2/l1", "opt/sub", "gone", "hidden/y", "var/a", "bin/old",
    ] {
        assert!(!has(p), "{p}");
    }
    assert_eq!(exported[Path::new("var/b")].1, b"B2");
    assert_eq!(exported[Path::new("etc/passwd")].1, b"root2");
}

#[test]
fn stubs_and_the_parents_copied_up_for_them_are_no_change() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l1, l2) = image(t.path());
    let up = t.path().join("upper");
    file(&up.join("etc/hosts"), "");
    file(&up.join("etc/resolv.conf"), "");
    copied_up(&l1.join("etc"), &up.join("etc"));
    std::fs::create_dir_all(up.join("dev/pts")).unwrap();
    std::fs::create_dir_all(up.join("sys")).unwrap();
    let lowers = vec![l1.clone(), l2];
    let stubs = runtime_stubs(&lowers, &up, &stub_candidates(&[])).unwrap();
    let stubs: Vec<&str> = stubs.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(
        stubs,
        [
            "dev",
            "dev/pts",
            "etc",
            "etc/hosts",
            "etc/resolv.conf",
            "sys"
        ]
    );
    assert!(diff_lines(&lowers, &up).is_empty());
    let blob = upper_layer(&lowers, &up);
    assert!(list(&blob).is_empty());

    // A stub that is not empty, or a path the image has, is a change like any other.
    file(&up.join("etc/hostname"), "box");
    std::fs::write(up.join("etc/passwd"), "").unwrap();
    copied_up(&l1.join("etc"), &up.join("etc"));
    assert_eq!(
        diff_lines(&lowers, &up),
        ["C /etc", "A /etc/hostname", "C /etc/passwd"]
    );
}

/// An overlay mount, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(lowers: &[PathBuf], upper: &Path, work: &Path, at: &Path, extra: &str) -> Option<Mount> {
        let lower: Vec<String> = lowers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
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
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if std::fs::symlink_metadata(from).unwrap().is_dir() {
        std::fs::create_dir(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// What a container does: writes new files, changes and deletes image files, renames a
/// directory (by rename(2) when the mount allows it, else copy and delete as `mv` does).
fn container_changes(m: &Path) {
    std::fs::write(m.join("new.txt"), "new").unwrap();
    std::fs::create_dir_all(m.join("newdir/deep")).unwrap();
    std::fs::write(m.join("newdir/deep/f"), "f").unwrap();
    std::fs::write(m.join("etc/passwd"), "root2").unwrap();
    std::fs::remove_file(m.join("bin/old")).unwrap();
    std::fs::remove_dir_all(m.join("var")).unwrap();
    if std::fs::rename(m.join("data"), m.join("data2")).is_err() {
        copy_tree(&m.join("data"), &m.join("data2"));
        std::fs::remove_dir_all(m.join("data")).unwrap();
    }
    std::fs::write(m.join("data2/sub/g"), "g2").unwrap();
    if std::fs::rename(m.join("opt/sub"), m.join("srv-sub")).is_err() {
        copy_tree(&m.join("opt/sub"), &m.join("srv-sub"));
        std::fs::remove_dir_all(m.join("opt/sub")).unwrap();
    }
}

fn real_overlay(redirect: &str) {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l1, l2) = image(t.path());
    let [up, work, merged] = ["upper", "work", "merged"].map(|n| {
        let p = t.path().join(n);
        std::fs::create_dir(&p).unwrap();
        p
    });
    let lowers = vec![l1.clone(), l2.clone()];
    let Some(mount) = Mount::new(&lowers, &up, &work, &merged, redirect) else {
        eprintln!("skipping: overlay mount with {redirect} failed");
        return;
    };
    container_changes(&merged);
    let expected = view(&merged);
    drop(mount);
    let renamed_by_redirect = get_xattr(&up.join("data2"), "trusted.overlay.redirect").is_some();
    assert_eq!(renamed_by_redirect, redirect == "redirect_dir=on");

    assert_eq!(
        diff_lines(&lowers, &up),
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
            "A /new.txt",
            "A /newdir",
            "A /newdir/deep",
            "A /newdir/deep/f",
            "C /opt",
            "D /opt/sub",
            "A /srv-sub",
            "A /srv-sub/s",
            "D /var",
        ]
    );
    // The layer applied onto the image gives what the mount showed; so does the export.
    let applied = t.path().join("applied");
    std::fs::create_dir(&applied).unwrap();
    extract(&write(&l1, &LayerOptions::default()).1, &applied);
    let as_upper = LayerOptions {
        overlay_whiteouts: true,
        ..LayerOptions::default()
    };
    extract(&write(&l2, &as_upper).1, &applied);
    extract(&upper_layer(&lowers, &up), &applied);
    assert_eq!(view(&applied), expected);
    let flat = t.path().join("flat");
    flattened(&[l1, l2, up], &flat);
    assert_eq!(view(&flat), expected);
}

#[test]
fn real_overlay_with_renames_by_copy() {
    real_overlay("redirect_dir=off");
}

#[test]
fn real_overlay_with_redirected_renames() {
    real_overlay("redirect_dir=on");
}

/// An absolute redirect is looked up in each lower layer without following links: a lower
/// layer's `/opt` symlink to a host directory does not pull the host's files in.
#[test]
fn redirects_never_follow_a_lower_layers_link() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    file(&outside.join("sub/secret"), "host");
    let l1 = t.path().join("l1");
    std::fs::create_dir_all(&l1).unwrap();
    std::os::unix::fs::symlink(&outside, l1.join("opt")).unwrap();
    let up = t.path().join("upper");
    std::fs::create_dir_all(up.join("srv/sub2")).unwrap();
    set_xattr(
        &up.join("srv/sub2"),
        "trusted.overlay.redirect",
        b"/opt/sub",
    );
    let lowers = vec![l1.clone()];
    assert_eq!(diff_lines(&lowers, &up), ["A /srv", "A /srv/sub2"]);
    let names: Vec<String> = list(&upper_layer(&lowers, &up))
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["srv/", "srv/sub2/", "srv/sub2/.wh..wh..opq"]);
    let flat = t.path().join("flat");
    flattened(&[l1, up], &flat);
    assert!(!flat.join("srv/sub2/secret").exists());
}
