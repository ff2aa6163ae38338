//! Helpers shared by the layer tests: trees with every kind of entry, tree snapshots for
//! comparison, tar listings.
#![allow(dead_code)]

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags, CWD};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_builder::layer::{decompress, write_layer, LayerInfo, LayerOptions};

/// One tar entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub name: String,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub dev: (u32, u32),
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub pax_keys: Vec<String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub data: Vec<u8>,
}

/// Decompresses and lists a layer blob.
pub fn list(blob: &[u8]) -> Vec<TarEntry> {
    let (_, reader) = decompress(std::io::BufReader::new(blob)).unwrap();
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut pax_keys = Vec::new();
        let mut xattrs = BTreeMap::new();
        let mut uid = entry.header().uid().unwrap();
        let mut gid = entry.header().gid().unwrap();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                let key = ext.key().unwrap().to_string();
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(x.to_string(), ext.value_bytes().to_vec());
                }
                if key == "uid" {
                    uid = ext.value().unwrap().parse().unwrap();
                }
                if key == "gid" {
                    gid = ext.value().unwrap().parse().unwrap();
                }
                pax_keys.push(key);
            }
        }
        let h = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(TarEntry {
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            typeflag: h.entry_type().as_byte(),
            mode: h.mode().unwrap(),
            uid,
            gid,
            mtime: h.mtime().unwrap(),
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned()),
            dev: (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            ),
            uname: h.username_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
            gname: h.groupname_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
            pax_keys,
            xattrs,
            data,
        });
    }
    out
}

/// Writes `dir` as a layer into memory.
pub fn write(dir: &Path, opts: &LayerOptions) -> (LayerInfo, Vec<u8>) {
    let mut blob = Vec::new();
    let info = write_layer(dir, opts, &mut blob).unwrap();
    assert_eq!(info.compressed_size, blob.len() as u64);
    (info, blob)
}

pub fn set_mtime(path: &Path, secs: i64) {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 123,
    };
    rustix::fs::utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, XattrFlags::empty()).unwrap();
}

pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

pub fn mknod(path: &Path, ft: FileType, mode: u32, major: u32, minor: u32) {
    rustix::fs::mknodat(
        CWD,
        path,
        ft,
        Mode::from_raw_mode(mode),
        rustix::fs::makedev(major, minor),
    )
    .unwrap();
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

/// A name long enough to need PAX (with the directory prefix).
pub fn long_name(c: char, len: usize) -> String {
    std::iter::repeat_n(c, len).collect()
}

/// A version-2 file capability blob (cap_net_bind_service, permitted + effective).
pub const CAP_NET_BIND: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// One step of building a tree.
type Step = Box<dyn Fn(&Path)>;

/// Builds a tree with every kind of entry under `root`. `reverse` creates things in the
/// opposite order (so directory order on disk differs); `mtime` is set on everything.
pub fn make_tree(root: &Path, reverse: bool, mtime: i64) {
    let long_dir = format!("long/{}", long_name('d', 120));
    let long_file = format!("{long_dir}/{}", long_name('f', 200));
    let mut steps: Vec<Step> = vec![
        Box::new(|r| std::fs::create_dir_all(r.join("a/b")).unwrap()),
        Box::new(|r| std::fs::write(r.join("a-b"), b"dash").unwrap()),
        Box::new(|r| std::fs::write(r.join("a.txt"), b"dot").unwrap()),
        Box::new(|r| std::fs::create_dir_all(r.join("empty")).unwrap()),
        Box::new(|r| {
            std::fs::create_dir_all(r.join("sticky")).unwrap();
        }),
        Box::new(|r| std::fs::write(r.join("setuid"), b"#!/bin/sh\n").unwrap()),
        Box::new(|r| std::fs::write(r.join("ünïcödé"), "ü".repeat(10)).unwrap()),
        Box::new(|r| std::fs::write(r.join("caps"), b"cap").unwrap()),
        Box::new(|r| std::fs::write(r.join("xattrs"), b"x").unwrap()),
        Box::new(|r| std::fs::write(r.join("owned"), b"o").unwrap()),
        Box::new(|r| std::fs::write(r.join("bigid"), b"b").unwrap()),
        Box::new(|r| mknod(&r.join("fifo"), FileType::Fifo, 0o640, 0, 0)),
        Box::new(|r| mknod(&r.join("null"), FileType::CharacterDevice, 0o666, 1, 3)),
        Box::new(|r| mknod(&r.join("blk"), FileType::BlockDevice, 0o660, 7, 0)),
        Box::new(|r| std::os::unix::fs::symlink("a/b/file.txt", r.join("sym")).unwrap()),
        Box::new(|r| std::os::unix::fs::symlink("/etc/passwd", r.join("abs")).unwrap()),
        Box::new(|r| std::os::unix::fs::symlink(long_name('t', 150), r.join("longsym")).unwrap()),
    ];
    let long_file2 = long_file.clone();
    steps.push(Box::new(move |r| {
        std::fs::create_dir_all(r.join(&long_dir)).unwrap();
    }));
    steps.push(Box::new(move |r| {
        std::fs::create_dir_all(r.join(&long_file2).parent().unwrap()).unwrap();
        std::fs::write(r.join(&long_file2), b"long").unwrap();
    }));
    if reverse {
        steps.reverse();
    }
    // Directories first whatever the order, so every step has its parent.
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    for step in &steps {
        step(root);
    }
    std::fs::write(root.join("a/b/file.txt"), b"hello\n").unwrap();
    // Hard links: `a/hl2` sorts first, so it carries the data and `hl1` links to it.
    std::fs::write(root.join("hl1"), b"shared").unwrap();
    std::fs::hard_link(root.join("hl1"), root.join("a/hl2")).unwrap();
    chmod(&root.join("setuid"), 0o4755);
    chmod(&root.join("sticky"), 0o1777);
    chmod(&root.join("a/b"), 0o2750);
    set_xattr(&root.join("caps"), "security.capability", &CAP_NET_BIND);
    set_xattr(&root.join("xattrs"), "user.foo", b"bar");
    set_xattr(&root.join("xattrs"), "user.bin", b"\0\x01\xff");
    set_xattr(&root.join("a"), "user.dir", b"d");
    chown(&root.join("owned"), 1000, 1001);
    chown(&root.join("bigid"), 3_000_000, 3_000_001);
    chown(&root.join("sym"), 5, 6);
    for path in walk(root) {
        set_mtime(&root.join(path), mtime);
    }
}

/// All paths under `root` (relative), parents before children.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let p = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    // Files before dirs for mtimes: setting a child's time does not touch the parent's.
    out
}

/// Everything observable about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub rdev: u64,
    pub content: Vec<u8>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The first path (in sorted order) of the same inode, for hard links.
    pub link_group: Option<PathBuf>,
}

/// A comparable picture of the tree under `root`.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for rel in walk(root) {
        let p = root.join(&rel);
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir", Vec::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                std::fs::read_link(&p)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if ft.is_file() {
            ("file", std::fs::read(&p).unwrap())
        } else if ft.is_char_device() {
            ("char", Vec::new())
        } else if ft.is_block_device() {
            ("block", Vec::new())
        } else {
            ("fifo", Vec::new())
        };
        let mut xattrs = BTreeMap::new();
        for name in ["user.foo", "user.bin", "user.dir", "security.capability"] {
            if let Some(v) = get_xattr(&p, name) {
                xattrs.insert(name.to_string(), v);
            }
        }
        let link_group = (!ft.is_dir() && m.nlink() > 1)
            .then(|| inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone());
        out.insert(
            rel,
            Node {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                mtime: m.mtime(),
                rdev: m.rdev(),
                content,
                xattrs,
                link_group,
            },
        );
    }
    out
}

/// A tmpfs mounted on a fresh directory, unmounted on drop.
pub struct Tmpfs {
    pub dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn new() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Lists `root` recursively as (relative path, size) for sentinel comparisons.
pub fn listing(root: &Path) -> Vec<(String, u64)> {
    walk(root)
        .into_iter()
        .map(|rel| {
            let m = std::fs::symlink_metadata(root.join(&rel)).unwrap();
            (rel.to_string_lossy().into_owned(), m.len())
        })
        .collect()
}

pub fn os(s: &[u8]) -> &OsStr {
    OsStr::from_bytes(s)
}
