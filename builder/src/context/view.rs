//! Walking the context directory into a [`ContextView`]: the entries a build may read, after
//! the ignore rules, in a fixed order, without following any symlink.

use super::hash::Memo;
use super::patternmatcher::PatternMatcher;
use super::{io_err, ContextError};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Seconds and nanoseconds since the Unix epoch, as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nsec: u32,
}

/// What `lstat` said about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last content change.
    pub mtime: Timestamp,
    /// Last inode change (content, mode, owner, links).
    pub ctime: Timestamp,
    /// Inode number.
    pub ino: u64,
    /// Device of the file system holding it.
    pub dev: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Device number, for character and block devices.
    pub rdev: u64,
}

impl Meta {
    pub(crate) fn from_std(m: &fs::Metadata) -> Meta {
        Meta {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: Timestamp {
                sec: m.mtime(),
                nsec: m.mtime_nsec().clamp(0, 999_999_999) as u32,
            },
            ctime: Timestamp {
                sec: m.ctime(),
                nsec: m.ctime_nsec().clamp(0, 999_999_999) as u32,
            },
            ino: m.ino(),
            dev: m.dev(),
            nlink: m.nlink(),
            rdev: m.rdev(),
        }
    }

    /// `fstat` of an open file.
    pub(crate) fn of_file(f: &fs::File) -> std::io::Result<Meta> {
        f.metadata().map(|m| Meta::from_std(&m))
    }

    /// The permission and special bits (`mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// The type of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target exactly as stored.
    Symlink(String),
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

impl EntryKind {
    pub(crate) fn from_meta(ft: fs::FileType) -> EntryKind {
        if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink(String::new())
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else if ft.is_char_device() {
            EntryKind::CharDevice
        } else if ft.is_block_device() {
            EntryKind::BlockDevice
        } else {
            EntryKind::File
        }
    }
}

/// One file, directory or link of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the context root, `/`-separated, no leading or trailing slash
    /// (`""` for the root). For a selected COPY source: the name it was selected by.
    pub path: String,
    /// The path in the view whose metadata and content this entry carries. Equal to `path`
    /// except for a selected source that was a symlink, which COPY follows (BuildKit's rule).
    pub resolved: String,
    /// Its type.
    pub kind: EntryKind,
    /// Its `lstat` data.
    pub meta: Meta,
}

impl Entry {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// The last path component (`""` for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// The build context after the ignore rules: every entry a build may read, in fsutil's walk
/// order (depth first, names sorted byte-wise), with the content hashes computed so far.
#[derive(Debug)]
pub struct ContextView {
    pub(crate) root: PathBuf,
    /// `entries[0]` is the root directory; a directory's subtree is
    /// `i + 1 .. subtree_end[i]`.
    pub(crate) entries: Vec<Entry>,
    pub(crate) subtree_end: Vec<usize>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) memo: Memo,
}

impl ContextView {
    /// Walks `root` applying the ignore `patterns` (as read by
    /// [`read_all`](super::read_all)).
    pub fn open<S: AsRef<str>>(root: &Path, patterns: &[S]) -> Result<ContextView, ContextError> {
        let matcher = PatternMatcher::new(patterns)?;
        Self::open_with(root, &matcher)
    }

    /// Walks `root` applying `matcher`. The root itself is resolved first (it may be a
    /// symlink, as with fsutil); nothing below it is ever followed.
    pub fn open_with(root: &Path, matcher: &PatternMatcher) -> Result<ContextView, ContextError> {
        let root = fs::canonicalize(root).map_err(io_err(root))?;
        let meta = fs::metadata(&root).map_err(io_err(&root))?;
        if !meta.is_dir() {
            return Err(ContextError::NotADirectory { path: root });
        }
        let root_entry = Entry {
            path: String::new(),
            resolved: String::new(),
            kind: EntryKind::Dir,
            meta: Meta::from_std(&meta),
        };
        let walked = super::walk::walk(&root, root_entry, matcher)?;
        let n = walked.entries.len();
        let mut index = HashMap::with_capacity(n);
        for (i, e) in walked.entries.iter().enumerate() {
            index.insert(e.path.clone(), i);
        }
        Ok(ContextView {
            memo: Memo::new(n),
            root,
            entries: walked.entries,
            subtree_end: walked.subtree_end,
            index,
        })
    }

    /// The resolved absolute context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// All entries except the root, in walk order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries[1..]
    }

    /// The root directory entry (path `""`).
    pub fn root_entry(&self) -> &Entry {
        &self.entries[0]
    }

    /// The entry at `path` (relative, as in [`Entry::path`]), if the view has it.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.index.get(path).map(|&i| &self.entries[i])
    }

    /// The entries below `entry`'s resolved path in walk order (empty unless a directory).
    pub fn descendants(&self, entry: &Entry) -> &[Entry] {
        match self.index.get(&entry.resolved) {
            Some(&i) => &self.entries[i + 1..self.subtree_end[i]],
            None => &[],
        }
    }

    /// Where `entry`'s content is on disk.
    pub fn host_path(&self, entry: &Entry) -> PathBuf {
        if entry.resolved.is_empty() {
            self.root.clone()
        } else {
            self.root.join(&entry.resolved)
        }
    }

    pub(crate) fn index_of(&self, resolved: &str) -> Option<usize> {
        self.index.get(resolved).copied()
    }
}
