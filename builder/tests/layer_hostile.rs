//! Hostile layer tars: whatever the entries say, nothing is created, changed or removed
//! outside the destination. Each case runs with the kernel resolver (openat2) and the
//! user-space one.

mod layer_support;

use layer_support::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use strata_builder::layer::{extract_layer, ExtractOptions, ExtractStats};

/// One raw tar entry: the name and link name go in byte for byte (the `tar` crate's own
/// builder refuses `..`, which is exactly what these tests need).
struct Raw<'a> {
    name: &'a [u8],
    typeflag: u8,
    link: &'a [u8],
    data: &'a [u8],
    dev: (u32, u32),
}

fn entry(name: &[u8], typeflag: u8, link: &[u8], data: &[u8]) -> Vec<u8> {
    raw(&Raw {
        name,
        typeflag,
        link,
        data,
        dev: (0, 0),
    })
}

fn file(name: &[u8], data: &[u8]) -> Vec<u8> {
    entry(name, b'0', b"", data)
}

fn raw(r: &Raw<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pax = Vec::new();
    // Long names through PAX, as a real producer would.
    for (key, value) in [(&b"path"[..], r.name), (b"linkpath", r.link)] {
        if value.len() > 100 {
            let body = format!(" {}=", String::from_utf8_lossy(key)).into_bytes();
            let mut rec = body;
            rec.extend_from_slice(value);
            rec.push(b'\n');
            let mut len = rec.len() + 1;
            while len != rec.len() + len.to_string().len() {
                len = rec.len() + len.to_string().len();
            }
            pax.extend_from_slice(len.to_string().as_bytes());
            pax.extend_from_slice(&rec);
        }
    }
    if !pax.is_empty() {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(pax.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&pax);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    let mut h = tar::Header::new_ustar();
    let n = r.name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&r.name[..n]);
    let l = r.link.len().min(100);
    h.as_old_mut().linkname[..l].copy_from_slice(&r.link[..l]);
    h.set_entry_type(tar::EntryType::new(r.typeflag));
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(r.data.len() as u64);
    h.set_device_major(r.dev.0).unwrap();
    h.set_device_minor(r.dev.1).unwrap();
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(r.data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A sandbox: `outside/` (a sentinel tree), `dest/` (the extraction root, two levels down so
/// `..` has somewhere to climb), and nothing else.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let s = Sandbox { dir };
        std::fs::create_dir_all(s.outside().join("sub")).unwrap();
        std::fs::write(s.outside().join("secret"), b"secret").unwrap();
        std::fs::write(s.outside().join("sub/keep"), b"keep").unwrap();
        std::fs::create_dir_all(s.dest()).unwrap();
        s
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn outside(&self) -> std::path::PathBuf {
        self.root().join("outside")
    }
    fn dest(&self) -> std::path::PathBuf {
        self.root().join("d1/d2/dest")
    }
    /// Everything in the sandbox that is not under dest.
    fn around(&self) -> Vec<(String, u64)> {
        listing(self.root())
            .into_iter()
            .filter(|(p, _)| !p.starts_with("d1/d2/dest/"))
            .collect()
    }
}

/// Runs `tar` into a fresh sandbox with both resolvers and checks that nothing around the
/// destination changed and /etc/passwd is untouched. Returns the outcome of each run.
fn check(
    tar: &[u8],
    opts: &ExtractOptions,
    inspect: impl Fn(&Path, &Result<ExtractStats, String>),
) {
    let passwd = std::fs::metadata("/etc/passwd").unwrap();
    for portable in [false, true] {
        let s = Sandbox::new();
        let before = s.around();
        let o = ExtractOptions {
            portable_resolution: portable,
            ..opts.clone()
        };
        let res = extract_layer(tar, &s.dest(), &o).map_err(|e| e.to_string());
        assert_eq!(
            s.around(),
            before,
            "portable {portable}: outside changed ({res:?})"
        );
        assert_eq!(
            std::fs::read(s.outside().join("secret")).unwrap(),
            b"secret"
        );
        let now = std::fs::metadata("/etc/passwd").unwrap();
        assert_eq!(
            (now.nlink(), now.mtime(), now.len(), now.mode()),
            (passwd.nlink(), passwd.mtime(), passwd.len(), passwd.mode())
        );
        inspect(&s.dest(), &res);
    }
}

fn merged() -> ExtractOptions {
    ExtractOptions::default()
}

#[test]
fn dot_dot_entries_stay_inside() {
    let tar = archive(&[
        file(b"../escape", b"1"),
        file(b"../../../outside/secret", b"pwned"),
        file(b"a/../../../../escape2", b"2"),
        entry(b"../../newdir/", b'5', b"", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        let stats = res.as_ref().unwrap();
        assert_eq!(stats.paths_cleaned, 4);
        assert_eq!(std::fs::read(dest.join("escape")).unwrap(), b"1");
        assert_eq!(
            std::fs::read(dest.join("outside/secret")).unwrap(),
            b"pwned"
        );
        assert_eq!(std::fs::read(dest.join("escape2")).unwrap(), b"2");
        assert!(dest.join("newdir").is_dir());
    });
}

#[test]
fn absolute_paths_are_rooted_at_the_destination() {
    let tar = archive(&[
        file(b"/etc/passwd", b"root::0:0::/:/bin/sh\n"),
        file(b"///abs/file", b"x"),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        assert_eq!(
            std::fs::read(dest.join("etc/passwd")).unwrap(),
            b"root::0:0::/:/bin/sh\n"
        );
        assert!(dest.join("abs/file").is_file());
    });
}

#[test]
fn absolute_symlink_then_file_through_it() {
    // The link names the real sentinel by its absolute host path and by `/`.
    let s = Sandbox::new();
    let host_outside = s.outside().to_string_lossy().into_owned();
    let tar = archive(&[
        entry(b"evil", b'2', host_outside.as_bytes(), b""),
        file(b"evil/pwned", b"x"),
        entry(b"root", b'2', b"/", b""),
        file(b"root/etc/pwned", b"y"),
        entry(b"dirlink", b'2', b"/", b""),
        entry(b"dirlink/made/", b'5', b"", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        // Either refused (the link's target does not exist inside) or confined; never outside.
        if res.is_ok() {
            assert!(!Path::new(&host_outside).join("pwned").exists());
        }
        assert!(std::fs::symlink_metadata(dest.join("evil")).is_ok());
    });
    // Without the dangling link, `root/...` lands inside dest.
    let tar = archive(&[
        entry(b"root", b'2', b"/", b""),
        file(b"root/etc/pwned", b"y"),
        entry(b"dirlink", b'2', b"/", b""),
        entry(b"dirlink/made/", b'5', b"", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        assert_eq!(std::fs::read(dest.join("etc/pwned")).unwrap(), b"y");
        assert!(dest.join("made").is_dir());
        assert!(!Path::new("/etc/pwned").exists());
        assert!(!Path::new("/made").exists());
    });
}

#[test]
fn relative_symlink_escaping_then_file_through_it() {
    // The link leads to a directory that does not exist inside: refused (as docker, which
    // resolves in a chroot), and nothing made outside.
    let tar = archive(&[
        entry(b"up", b'2', b"../../../outside", b""),
        file(b"up/secret", b"pwned"),
    ]);
    check(&tar, &merged(), |dest, res| {
        let err = res.as_ref().unwrap_err();
        assert!(err.contains("up/secret"), "{err}");
        assert!(!dest.join("outside").exists());
    });
    // Where the directory exists inside, the write lands there.
    let tar = archive(&[
        entry(b"outside/", b'5', b"", b""),
        entry(b"outside/sub/", b'5', b"", b""),
        entry(b"up", b'2', b"../../../outside", b""),
        file(b"up/secret", b"pwned"),
        entry(
            b"deep/link",
            b'2',
            b"../../../../../../../../outside/sub",
            b"",
        ),
        file(b"deep/link/keep", b"pwned"),
        entry(b"deep/link2", b'2', b"../../../../../../", b""),
        entry(b"deep/link2/outside/sub/.wh.keep", b'0', b"", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        // `..` stopped at the destination's root: both landed in dest/outside.
        assert_eq!(
            std::fs::read(dest.join("outside/secret")).unwrap(),
            b"pwned"
        );
        assert!(!dest.join("outside/sub/keep").exists());
    });
}

#[test]
fn file_entry_replaces_a_symlink_instead_of_writing_through_it() {
    let tar = archive(&[
        entry(b"link", b'2', b"../../../outside/secret", b""),
        file(b"link", b"replaced"),
        entry(b"dirlink", b'2', b"../../../outside", b""),
        entry(b"dirlink/", b'5', b"", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        let m = std::fs::symlink_metadata(dest.join("link")).unwrap();
        assert!(m.is_file());
        assert_eq!(std::fs::read(dest.join("link")).unwrap(), b"replaced");
        assert!(std::fs::symlink_metadata(dest.join("dirlink"))
            .unwrap()
            .is_dir());
    });
}

#[test]
fn hard_links_only_reach_inside() {
    for target in [
        &b"/etc/passwd"[..],
        b"../../../outside/secret",
        b"../outside/secret",
    ] {
        let tar = archive(&[entry(b"h", b'1', target, b"")]);
        check(&tar, &merged(), |dest, res| {
            // The cleaned target does not exist inside dest: refused, nothing linked.
            assert!(res.is_err(), "{}", String::from_utf8_lossy(target));
            assert!(!dest.join("h").exists());
        });
    }
    // Through a symlinked directory, and to a symlink that points outside.
    let tar = archive(&[
        entry(b"sl", b'2', b"../../../outside", b""),
        entry(b"via", b'1', b"sl/secret", b""),
    ]);
    check(&tar, &merged(), |_, res| assert!(res.is_err()));
    let tar = archive(&[
        entry(b"s", b'2', b"/etc/passwd", b""),
        entry(b"h", b'1', b"s", b""),
        file(b"real", b"data"),
        entry(b"../../h2", b'1', b"../real", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        // The link is to the symlink itself, not to /etc/passwd.
        assert!(std::fs::symlink_metadata(dest.join("h"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(dest.join("h2")).unwrap(), b"data");
        assert_eq!(std::fs::metadata(dest.join("real")).unwrap().nlink(), 2);
    });
}

#[test]
fn device_nodes_only_when_allowed() {
    let dev = |name: &'static [u8], t: u8, major, minor| {
        raw(&Raw {
            name,
            typeflag: t,
            link: b"",
            data: b"",
            dev: (major, minor),
        })
    };
    let tar = archive(&[
        dev(b"null", b'3', 1, 3),
        dev(b"sda", b'4', 8, 0),
        dev(b"fifo", b'6', 0, 0),
        dev(b"../../../outside/mem", b'3', 1, 1),
    ]);
    let mut denied = merged();
    denied.devices = false;
    check(&tar, &denied, |dest, res| {
        let stats = res.as_ref().unwrap();
        assert_eq!(stats.devices_skipped, 3);
        assert_eq!(stats.specials, 1);
        assert!(!dest.join("null").exists());
        assert!(!dest.join("outside/mem").exists());
    });
    if rustix::process::geteuid().is_root() {
        let mut allowed = merged();
        allowed.devices = true;
        check(&tar, &allowed, |dest, res| {
            let stats = res.as_ref().unwrap();
            assert_eq!((stats.specials, stats.devices_skipped), (4, 0));
            let m = std::fs::symlink_metadata(dest.join("outside/mem")).unwrap();
            assert_eq!(m.rdev(), rustix::fs::makedev(1, 1));
        });
    }
}

#[test]
fn whiteouts_cannot_delete_outside() {
    let tar = archive(&[
        file(b".wh...", b""),
        file(b"sub/.wh...", b""),
        file(b"../.wh.outside", b""),
        file(b"../../../.wh.outside", b""),
        entry(b"l", b'2', b"../../../outside", b""),
        file(b"l/.wh.secret", b""),
        file(b"l/.wh..wh..opq", b""),
        entry(b"m", b'2', b"/", b""),
        file(b"m/.wh..wh..opq", b""),
        file(b"/.wh..wh..opq", b""),
    ]);
    check(&tar, &merged(), |dest, res| {
        let stats = res.as_ref().unwrap();
        assert_eq!(stats.skipped, 2);
        // The opaque markers at the root emptied dest itself (but for this layer's own
        // entries), and only dest.
        let mut left: Vec<_> = std::fs::read_dir(dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["l", "m"]);
    });
    let mut lower = merged();
    lower.as_overlay_lower = true;
    check(&tar, &lower, |_, res| {
        // Whiteouts become devices and xattrs inside dest (or fail), never outside.
        let _ = res;
    });
}

#[test]
fn long_hostile_names_through_pax() {
    let long_up = [b"../".repeat(60), b"outside/secret".to_vec()].concat();
    let long_link = [b"../".repeat(60), b"outside".to_vec()].concat();
    let tar = archive(&[
        file(&long_up, b"pwned"),
        entry(b"pl", b'2', &long_link, b""),
        file(b"pl/secret2", b"pwned"),
    ]);
    check(&tar, &merged(), |dest, res| {
        res.as_ref().unwrap();
        assert_eq!(
            std::fs::read(dest.join("outside/secret")).unwrap(),
            b"pwned"
        );
        assert_eq!(
            std::fs::read(dest.join("outside/secret2")).unwrap(),
            b"pwned"
        );
    });
}

#[test]
fn replacing_dirs_and_files_as_docker_does() {
    let s = Sandbox::new();
    let dest = s.dest();
    std::fs::create_dir_all(dest.join("was_dir/child")).unwrap();
    std::fs::write(dest.join("was_file"), b"f").unwrap();
    std::fs::create_dir_all(dest.join("merge")).unwrap();
    std::fs::write(dest.join("merge/old"), b"old").unwrap();
    std::fs::create_dir_all(dest.join("opaque/gone")).unwrap();
    std::fs::write(dest.join("opaque/gone2"), b"").unwrap();
    std::fs::write(dest.join("deleted"), b"").unwrap();
    let tar = archive(&[
        file(b"was_dir", b"now a file"),
        entry(b"was_file/", b'5', b"", b""),
        file(b"was_file/inner", b"i"),
        entry(b"merge/", b'5', b"", b""),
        file(b"merge/new", b"new"),
        entry(b"opaque/", b'5', b"", b""),
        file(b"opaque/kept", b"k"),
        file(b"opaque/.wh..wh..opq", b""),
        file(b".wh.deleted", b""),
        file(b".wh.never-existed", b""),
        file(b"legacy_dir/", b""),
    ]);
    let stats = extract_layer(&tar[..], &dest, &merged()).unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (2, 1));
    assert_eq!(std::fs::read(dest.join("was_dir")).unwrap(), b"now a file");
    assert_eq!(std::fs::read(dest.join("was_file/inner")).unwrap(), b"i");
    assert!(dest.join("merge/old").exists() && dest.join("merge/new").exists());
    let mut left: Vec<_> = std::fs::read_dir(dest.join("opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["kept"]);
    assert!(!dest.join("deleted").exists());
    assert!(!dest.join(".wh.deleted").exists());
    assert!(dest.join("legacy_dir").is_dir());
}

#[test]
fn truncated_streams_fail() {
    let mut tar = archive(&[file(b"big", &[7u8; 5000])]);
    tar.truncate(512 + 2048);
    let s = Sandbox::new();
    let err = extract_layer(&tar[..], &s.dest(), &merged()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// `entry` preceded by a PAX header holding `SCHILY.xattr.NAME=VALUE` records.
fn with_xattrs(xattrs: &[(&str, &[u8])], entry: Vec<u8>) -> Vec<u8> {
    let mut pax = Vec::new();
    for (name, value) in xattrs {
        let mut rec = format!(" SCHILY.xattr.{name}=").into_bytes();
        rec.extend_from_slice(value);
        rec.push(b'\n');
        let mut len = rec.len() + 1;
        while len != rec.len() + len.to_string().len() {
            len = rec.len() + len.to_string().len();
        }
        pax.extend_from_slice(len.to_string().as_bytes());
        pax.extend_from_slice(&rec);
    }
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(pax.len() as u64);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&pax);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&entry);
    out
}

#[test]
fn xattrs_land_inside_and_never_plant_overlay_bookkeeping() {
    // VFS_CAP_REVISION_2 with the effective bit, CAP_NET_BIND_SERVICE permitted.
    let mut cap = vec![0u8; 20];
    cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
    let tar = archive(&[
        entry(b"outside/", b'5', b"", b""),
        entry(b"l", b'2', b"../../../outside", b""),
        with_xattrs(&[("user.t", b"1")], file(b"l/x", b"x")),
        with_xattrs(
            &[
                ("trusted.overlay.opaque", b"y"),
                ("user.overlay.opaque", b"y"),
                ("user.ok", b"1"),
            ],
            entry(b"o/", b'5', b"", b""),
        ),
        with_xattrs(
            &[
                ("trusted.overlay.redirect", b"/etc"),
                ("user.overlay.metacopy", b""),
                ("security.capability", &cap),
                ("user.ok", b"2"),
            ],
            file(b"o/f", b"f"),
        ),
    ]);
    let overlay = [
        "trusted.overlay.opaque",
        "user.overlay.opaque",
        "trusted.overlay.redirect",
        "user.overlay.metacopy",
    ];
    let mut lower = merged();
    lower.as_overlay_lower = true;
    for opts in [merged(), lower] {
        check(&tar, &opts, |dest, res| {
            let stats = res.as_ref().unwrap();
            assert!(stats.xattrs_skipped >= 4, "{stats:?}");
            for p in ["o", "o/f"] {
                for name in overlay {
                    assert_eq!(get_xattr(&dest.join(p), name), None, "{p}: {name}");
                }
            }
            // Through the symlink, inside dest: never on the real outside/.
            assert!(dest.join("outside/x").is_file());
            if get_xattr(&dest.join("o"), "user.ok").is_some() {
                assert_eq!(get_xattr(&dest.join("outside/x"), "user.t").unwrap(), b"1");
                assert_eq!(get_xattr(&dest.join("o/f"), "user.ok").unwrap(), b"2");
            }
            if rustix::process::geteuid().is_root() {
                assert_eq!(
                    get_xattr(&dest.join("o/f"), "security.capability").unwrap(),
                    cap
                );
            }
        });
    }
}
