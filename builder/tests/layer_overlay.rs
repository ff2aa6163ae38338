//! A real overlayfs upper dir becomes a layer (whiteouts, opaque dirs, renamed dirs), and the
//! layer applied onto its lower — or unpacked as an overlay lower dir — gives the same view
//! as the mount did. Needs root and overlayfs; says so and passes otherwise.

mod layer_support;

use layer_support::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_builder::layer::{
    decompress, extract_layer, ExtractOptions, LayerCompression, LayerOptions,
};

/// An overlay mount, unmounted on drop.
struct Overlay {
    merged: PathBuf,
}

impl Overlay {
    fn mount(lowers: &[&Path], upper: Option<(&Path, &Path)>, merged: &Path) -> Option<Overlay> {
        let lowerdir: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let mut opts = format!("lowerdir={}", lowerdir.join(":"));
        if let Some((upper, work)) = upper {
            opts += &format!(",upperdir={},workdir={}", upper.display(), work.display());
        }
        // Renames copy the tree instead of leaving a redirect xattr the layer cannot express.
        for extra in [",redirect_dir=off,metacopy=off,index=off", ""] {
            let ok = Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!("{opts}{extra}"))
                .arg(merged)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Some(Overlay {
                    merged: merged.to_path_buf(),
                });
            }
        }
        None
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
    }
}

/// `mv` across an overlay without redirect_dir: copy, then delete.
fn copy_tree(from: &Path, to: &Path) {
    let m = std::fs::symlink_metadata(from).unwrap();
    if m.is_dir() {
        std::fs::create_dir(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Kind and content of every path: what a container would see.
fn view(root: &Path) -> BTreeMap<PathBuf, (&'static str, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .map(|(p, n)| (p, (n.kind, n.content)))
        .collect()
}

fn layer_of(dir: &Path, overlay: bool) -> Vec<u8> {
    let opts = LayerOptions {
        compression: LayerCompression::Gzip(6),
        overlay_whiteouts: overlay,
        source_date_epoch: Some(1_700_000_000),
        ..LayerOptions::default()
    };
    write(dir, &opts).1
}

fn extract(blob: &[u8], dest: &Path, opts: &ExtractOptions) {
    let (_, tar) = decompress(std::io::BufReader::new(blob)).unwrap();
    extract_layer(tar, dest, opts).unwrap();
}

#[test]
fn overlay_upper_dir_becomes_an_oci_layer() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: overlayfs needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|n| {
        let p = t.path().join(n);
        std::fs::create_dir(&p).unwrap();
        p
    });
    std::fs::write(lower.join("a"), b"a").unwrap();
    std::fs::write(lower.join("keep"), b"keep").unwrap();
    std::fs::write(lower.join("mod.txt"), b"old").unwrap();
    std::fs::create_dir_all(lower.join("d")).unwrap();
    std::fs::write(lower.join("d/x"), b"x").unwrap();
    std::fs::write(lower.join("d/y"), b"y").unwrap();
    std::fs::create_dir_all(lower.join("r/sub")).unwrap();
    std::fs::write(lower.join("r/f"), b"f").unwrap();
    std::fs::write(lower.join("r/sub/g"), b"g").unwrap();

    let Some(mount) = Overlay::mount(&[&lower], Some((&upper, &work)), &merged) else {
        eprintln!("skipping: overlayfs mount failed");
        return;
    };
    let m = &mount.merged;
    std::fs::remove_file(m.join("a")).unwrap();
    std::fs::remove_dir_all(m.join("d")).unwrap();
    std::fs::create_dir(m.join("d")).unwrap();
    std::fs::write(m.join("d/new"), b"new").unwrap();
    if std::fs::rename(m.join("r"), m.join("r2")).is_err() {
        copy_tree(&m.join("r"), &m.join("r2"));
        std::fs::remove_dir_all(m.join("r")).unwrap();
    }
    std::fs::write(m.join("mod.txt"), b"modified").unwrap();
    std::fs::create_dir(m.join("newdir")).unwrap();
    std::fs::write(m.join("newdir/file"), b"nf").unwrap();
    let expected = view(m);
    drop(mount);

    // The upper dir, converted.
    let blob = layer_of(&upper, true);
    let entries = list(&blob);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".wh.a",
            ".wh.r",
            "d/",
            "d/.wh..wh..opq",
            "d/new",
            "mod.txt",
            "newdir/",
            "newdir/file",
            "r2/",
            "r2/f",
            "r2/sub/",
            "r2/sub/g"
        ]
    );
    for e in &entries {
        assert!(
            e.xattrs.keys().all(|k| !k.contains("overlay")),
            "{}",
            e.name
        );
        if e.name.contains(".wh.") {
            assert_eq!((e.typeflag, e.data.len()), (b'0', 0), "{}", e.name);
        }
    }
    assert_eq!(entries[0].mode, 0o600);
    // Without the conversion the devices stay devices (a plain directory is not an upper).
    let raw = list(&layer_of(&upper, false));
    let a = raw.iter().find(|e| e.name == "a").unwrap();
    assert_eq!((a.typeflag, a.dev), (b'3', (0, 0)));
    assert!(raw.iter().all(|e| !e.name.contains(".wh.")));

    // Applied onto the lower as a merged tree: the view the mount showed.
    let lower_blob = layer_of(&lower, false);
    let applied = t.path().join("applied");
    std::fs::create_dir(&applied).unwrap();
    extract(&lower_blob, &applied, &ExtractOptions::default());
    extract(&blob, &applied, &ExtractOptions::default());
    assert_eq!(view(&applied), expected);

    // Unpacked as overlay lower dirs (snapshots): overlay whiteouts, and the same view.
    let (l1, l2, view_dir) = (t.path().join("l1"), t.path().join("l2"), t.path().join("v"));
    for d in [&l1, &l2, &view_dir] {
        std::fs::create_dir(d).unwrap();
    }
    let as_lower = ExtractOptions {
        as_overlay_lower: true,
        ..ExtractOptions::default()
    };
    extract(&lower_blob, &l1, &as_lower);
    extract(&blob, &l2, &as_lower);
    let wh = std::fs::symlink_metadata(l2.join("a")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        get_xattr(&l2.join("d"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!l2.join("d/.wh..wh..opq").exists());
    let stack = Overlay::mount(&[&l2, &l1], None, &view_dir).expect("mount lower stack");
    assert_eq!(view(&stack.merged), expected);
    drop(stack);
}

#[test]
fn redirected_directories_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("moved");
    std::fs::create_dir(&d).unwrap();
    if rustix::fs::lsetxattr(
        &d,
        "trusted.overlay.redirect",
        b"/orig",
        rustix::fs::XattrFlags::empty(),
    )
    .is_err()
    {
        eprintln!("skipping: cannot set trusted xattrs");
        return;
    }
    let opts = LayerOptions {
        overlay_whiteouts: true,
        ..LayerOptions::default()
    };
    let err = strata_builder::layer::write_layer(t.path(), &opts, std::io::sink()).unwrap_err();
    assert!(err.to_string().contains("redirect"), "{err}");
    assert!(err.to_string().contains("moved"), "{err}");
}

/// A layer that deletes a directory and makes a new one of the same name (`.wh.d`, then `d/`)
/// hides the old contents both when applied and when unpacked as a lower dir.
#[test]
fn whiteout_then_directory_replaces_the_lower_directory() {
    let t = tempfile::tempdir().unwrap();
    let lower = t.path().join("lower");
    std::fs::create_dir_all(lower.join("d")).unwrap();
    std::fs::write(lower.join("d/old"), b"old").unwrap();
    let lower_blob = layer_of(&lower, false);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(".wh.d", tar::EntryType::Regular, b"");
    add("d/", tar::EntryType::Directory, b"");
    add("d/new", tar::EntryType::Regular, b"new");
    let upper_tar = b.into_inner().unwrap();

    let applied = t.path().join("applied");
    std::fs::create_dir(&applied).unwrap();
    extract(&lower_blob, &applied, &ExtractOptions::default());
    extract_layer(&upper_tar[..], &applied, &ExtractOptions::default()).unwrap();
    let expected = view(&applied);
    assert!(expected.contains_key(Path::new("d/new")));
    assert!(!expected.contains_key(Path::new("d/old")));

    if !rustix::process::geteuid().is_root() {
        return;
    }
    let (l1, l2, v) = (t.path().join("l1"), t.path().join("l2"), t.path().join("v"));
    for d in [&l1, &l2, &v] {
        std::fs::create_dir(d).unwrap();
    }
    let as_lower = ExtractOptions {
        as_overlay_lower: true,
        ..ExtractOptions::default()
    };
    extract(&lower_blob, &l1, &as_lower);
    extract_layer(&upper_tar[..], &l2, &as_lower).unwrap();
    assert_eq!(
        get_xattr(&l2.join("d"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    let Some(stack) = Overlay::mount(&[&l2, &l1], None, &v) else {
        eprintln!("skipping: overlayfs mount failed");
        return;
    };
    assert_eq!(view(&stack.merged), expected);
}
