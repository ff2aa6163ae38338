//! Walking the context directory into a [`ContextView`]: the entries a build may read, after
//! the ignore rules, in a fixed order, without following any symlink.

use super::hash::Memo;
use super::patternmatcher::{MatchInfo, PatternMatcher};
use super::{io_err, ContextError};
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
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
    fn from_std(m: &fs::Metadata) -> Meta {
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
    fn from_meta(ft: fs::FileType) -> EntryKind {
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

/// A directory being walked whose entry may not be emitted yet (it is excluded, but an
/// exception may re-include something inside it).
struct Level {
    entry: Entry,
    info: MatchInfo,
    /// Index in `entries` once emitted.
    emitted: Option<usize>,
    /// The host path when the name is not UTF-8 (an error only if the directory is emitted).
    bad_name: Option<PathBuf>,
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
        let mut w = Walker {
            matcher,
            entries: vec![root_entry.clone()],
            subtree_end: vec![0],
            stack: vec![Level {
                entry: root_entry,
                info: MatchInfo::default(),
                emitted: Some(0),
                bad_name: None,
            }],
        };
        w.walk_dir(&root, "")?;
        let n = w.entries.len();
        w.subtree_end[0] = n;
        let index = w
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.clone(), i))
            .collect();
        Ok(ContextView {
            memo: Memo::new(n),
            root,
            entries: w.entries,
            subtree_end: w.subtree_end,
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

struct Walker<'a> {
    matcher: &'a PatternMatcher,
    entries: Vec<Entry>,
    subtree_end: Vec<usize>,
    stack: Vec<Level>,
}

impl Walker<'_> {
    /// Walks the directory on top of the stack (host path `dir`, relative path `rel`).
    fn walk_dir(&mut self, dir: &Path, rel: &str) -> Result<(), ContextError> {
        let excluded_dir = self.stack.last().is_some_and(|l| l.emitted.is_none());
        let read = match fs::read_dir(dir) {
            Ok(r) => r,
            // fsutil skips unreadable directories that are excluded anyway.
            Err(e) if excluded_dir && e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Ok(())
            }
            Err(e) => return Err(io_err(dir)(e)),
        };
        let mut children = Vec::new();
        for de in read {
            let de = de.map_err(io_err(dir))?;
            children.push(de);
        }
        children.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        for de in children {
            let name = de.file_name();
            let host = de.path();
            let name_str = String::from_utf8_lossy(name.as_bytes());
            let path = if rel.is_empty() {
                name_str.into_owned()
            } else {
                format!("{rel}/{name_str}")
            };
            let meta = de.metadata().map_err(io_err(&host))?;
            let kind = EntryKind::from_meta(meta.file_type());
            let parent_info = &self
                .stack
                .last()
                .map(|l| &l.info)
                .cloned()
                .unwrap_or_default();
            let (excluded, info) = self
                .matcher
                .matches_using_parent_results(&path, parent_info)?;
            let is_dir = kind == EntryKind::Dir;
            if excluded && !(is_dir && self.matcher.may_have_exception_inside(&path)) {
                continue;
            }
            let mut entry = Entry {
                resolved: path.clone(),
                path,
                kind,
                meta: Meta::from_std(&meta),
            };
            let bad_name = name.to_str().is_none().then(|| host.clone());
            if !excluded && !is_dir {
                if let Some(path) = bad_name.clone() {
                    return Err(ContextError::NonUtf8Name { path });
                }
            }
            if let EntryKind::Symlink(target) = &mut entry.kind {
                let t = fs::read_link(&host).map_err(io_err(&host))?;
                *target = t
                    .to_str()
                    .ok_or_else(|| ContextError::NonUtf8Name { path: host.clone() })?
                    .to_string();
            }
            if is_dir {
                let child_rel = entry.path.clone();
                self.stack.push(Level {
                    entry,
                    info,
                    emitted: None,
                    bad_name,
                });
                if !excluded {
                    self.emit_pending()?;
                }
                self.walk_dir(&host, &child_rel)?;
                if let Some(level) = self.stack.pop() {
                    if let Some(i) = level.emitted {
                        self.subtree_end[i] = self.entries.len();
                    }
                }
            } else {
                self.emit_pending()?;
                let i = self.entries.len();
                self.entries.push(entry);
                self.subtree_end.push(i + 1);
            }
        }
        Ok(())
    }

    /// Emits the directories on the stack that are not emitted yet: something inside them
    /// is included, so they are part of the view (fsutil's lazy parent emission).
    fn emit_pending(&mut self) -> Result<(), ContextError> {
        for level in self.stack.iter_mut() {
            if level.emitted.is_none() {
                if let Some(path) = level.bad_name.take() {
                    return Err(ContextError::NonUtf8Name { path });
                }
                let i = self.entries.len();
                self.entries.push(level.entry.clone());
                self.subtree_end.push(i + 1);
                level.emitted = Some(i);
            }
        }
        Ok(())
    }
}
