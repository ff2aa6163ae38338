//! A layer described entry by entry, for steps that know their result without running
//! anything (COPY): the tar is streamed straight from the source files, with the same
//! deterministic bytes [`write_layer`](super::write_layer) gives for the equivalent
//! directory, and no file is created on the way.
//!
//! Paths are relative and `/`-separated; entries are kept in the writer's order (depth first,
//! siblings by name bytes), which is the byte order of the names with `/` read as 0.

use super::tarfmt::{self, Entry, Kind, ZEROS};
use super::writer::{close_stream, copy_content, open_stream, LayerInfo, LayerOptions};
use super::xattr::Xattrs;
use super::LayerWriteError;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A directory.
    Dir,
    /// A regular file whose `size` bytes are read from `path` when the layer is written.
    File {
        /// The host file (opened without following symlinks).
        path: PathBuf,
        /// Its size; a file that is shorter by then fails the write.
        size: u64,
    },
    /// A regular file with these bytes.
    Bytes(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(Vec<u8>),
}

/// One entry: content and the metadata its tar header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub content: Content,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, whole seconds.
    pub mtime: i64,
    /// The extended attributes the layer records for it (see
    /// [`layer_xattrs`](super::layer_xattrs)), sorted by name.
    pub xattrs: Xattrs,
}

impl Node {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.content == Content::Dir
    }
}

/// The entries of a layer, by path.
#[derive(Debug, Clone, Default)]
pub struct LayerTree {
    nodes: BTreeMap<Vec<u8>, (String, Node)>,
}

fn key(path: &str) -> Vec<u8> {
    path.bytes()
        .map(|b| if b == b'/' { 0 } else { b })
        .collect()
}

/// The key range of everything below `path`.
fn below(path: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = key(path);
    lo.push(0);
    let mut hi = key(path);
    hi.push(1);
    (lo, hi)
}

impl LayerTree {
    /// An empty tree.
    pub fn new() -> LayerTree {
        LayerTree::default()
    }

    /// True when nothing was put in.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&key(path)).map(|(_, n)| n)
    }

    /// The entry at `path`, to change its metadata.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        self.nodes.get_mut(&key(path)).map(|(_, n)| n)
    }

    /// True when something lies below `path`.
    pub fn has_children(&self, path: &str) -> bool {
        let (lo, hi) = below(path);
        self.nodes.range(lo..hi).next().is_some()
    }

    /// Puts `node` at `path` (whose parents the caller has put in). Whatever was at `path`
    /// is replaced; when a directory is replaced by something else, its contents go too.
    pub fn insert(&mut self, path: &str, node: Node) {
        if !node.is_dir() {
            self.remove_below(path);
        }
        self.nodes.insert(key(path), (path.to_string(), node));
    }

    fn remove_below(&mut self, path: &str) {
        let (lo, hi) = below(path);
        let doomed: Vec<Vec<u8>> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Every path with its entry, in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.values().map(|(p, n)| (p.as_str(), n))
    }
}

/// Writes `tree` as a layer into `sink` (compressed as `opts` says; `overlay_whiteouts` is
/// irrelevant here). The sink receives the blob; its digest is the caller's to compute.
pub fn write_tree(
    tree: &LayerTree,
    opts: &LayerOptions,
    sink: impl Write,
) -> Result<LayerInfo, LayerWriteError> {
    let mut out = open_stream(sink, opts)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut entries = 0u64;
    let mut name = Vec::new();
    for (path, node) in tree.iter() {
        name.clear();
        name.extend_from_slice(path.as_bytes());
        let mtime = match opts.source_date_epoch {
            Some(epoch) if node.mtime > epoch => epoch,
            _ => node.mtime,
        };
        let kind = match &node.content {
            Content::Dir => {
                name.push(b'/');
                Kind::Dir
            }
            Content::File { size, .. } => Kind::Regular(*size),
            Content::Bytes(b) => Kind::Regular(b.len() as u64),
            Content::Symlink(t) => Kind::Symlink(t),
        };
        let entry = Entry {
            name: &name,
            kind,
            mode: node.mode & 0o7777,
            uid: u64::from(node.uid),
            gid: u64::from(node.gid),
            mtime,
            xattrs: &node.xattrs,
        };
        tarfmt::write_header(&mut out, &entry).map_err(LayerWriteError::Stream)?;
        entries += 1;
        match &node.content {
            Content::File { path, size } => copy_content(&mut out, path, *size, &mut buf)?,
            Content::Bytes(b) => {
                out.write_all(b).map_err(LayerWriteError::Stream)?;
                let pad = tarfmt::padding(b.len() as u64);
                out.write_all(&ZEROS[..pad])
                    .map_err(LayerWriteError::Stream)?;
            }
            Content::Dir | Content::Symlink(_) => {}
        }
    }
    close_stream(out, entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{write_layer, LayerCompression};
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn node(content: Content, mode: u32) -> Node {
        Node {
            content,
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
            xattrs: Vec::new(),
        }
    }

    fn set_mtime(path: &std::path::Path) {
        let t = rustix::fs::Timespec {
            tv_sec: 1_700_000_000,
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            path,
            &rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            },
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }

    #[test]
    fn same_bytes_as_the_directory_writer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let src = dir.path().join("src.bin");
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let mut tree = LayerTree::new();
        // Out of order on purpose: the tree sorts like the writer does.
        for (p, n) in [
            ("a.txt", node(Content::Bytes(b"hello\n".to_vec()), 0o644)),
            ("a", node(Content::Dir, 0o755)),
            ("a/z", node(Content::Symlink(b"../a.txt".to_vec()), 0o777)),
            (
                "a/big",
                node(
                    Content::File {
                        path: src.clone(),
                        size: data.len() as u64,
                    },
                    0o4755,
                ),
            ),
            ("b", node(Content::Dir, 0o700)),
        ] {
            tree.insert(p, n);
        }
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
        std::fs::write(root.join("a/big"), &data).unwrap();
        symlink("../a.txt", root.join("a/z")).unwrap();
        for (p, m) in [
            ("a.txt", 0o644),
            ("a/big", 0o4755),
            ("a", 0o755),
            ("b", 0o700),
        ] {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        // File capabilities (where this process may set them) go into both as PAX records.
        let mut cap = vec![0u8; 20];
        cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
        let caps = vec![(b"security.capability".to_vec(), cap)];
        if crate::layer::set_xattrs(&root.join("a/big"), &caps).unwrap() == 0 {
            tree.get_mut("a/big").unwrap().xattrs = caps;
        }
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let own: Vec<String> = tree.iter().map(|(p, _)| p.to_string()).collect();
        for p in &own {
            let n = tree.get_mut(p).unwrap();
            n.uid = uid;
            n.gid = gid;
            set_mtime(&root.join(p));
        }
        for compression in [LayerCompression::Gzip(6), LayerCompression::Zstd(3)] {
            let opts = LayerOptions {
                compression,
                threads: 2,
                ..Default::default()
            };
            let mut a = Vec::new();
            let ia = write_tree(&tree, &opts, &mut a).unwrap();
            let mut b = Vec::new();
            let ib = write_layer(&root, &opts, &mut b).unwrap();
            assert_eq!(ia, ib);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn replacing_a_directory_drops_its_contents() {
        let mut tree = LayerTree::new();
        tree.insert("d", node(Content::Dir, 0o755));
        tree.insert("d/x", node(Content::Bytes(vec![]), 0o644));
        tree.insert("d.txt", node(Content::Bytes(vec![]), 0o644));
        assert!(tree.has_children("d"));
        assert!(!tree.has_children("d.txt"));
        tree.insert("d", node(Content::Bytes(vec![1]), 0o644));
        let paths: Vec<&str> = tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["d", "d.txt"]);
    }
}
