//! `diff`: what a container changed in its image's file system, read from its overlay upper
//! dir and the image's layers (unpacked as overlay lower dirs), as `docker diff` lists it.
//!
//! Semantics (moby's `archive.Changes` over an overlay upper dir, made exact where the native
//! overlay differ is not):
//! - `A` a path the image does not have; everything below an added directory is added too.
//! - `D` a path of the image the container deleted (only the top-most deleted path: what was
//!   below it is not listed).
//! - `C` a path both have: a non-directory present in the upper dir (copied up to be written,
//!   as docker counts it), a directory whose mode, owner or mtime differ, a directory replaced
//!   by a non-directory or the reverse, and every parent directory of a listed path (docker's
//!   naive differ adds them so that a layer restores their permissions).
//! - A directory emptied and recreated (`overlay.opaque`) is compared entry by entry with the
//!   image's; one renamed under `redirect_dir=on` (`overlay.redirect`) is `A` at its new path
//!   with everything it shows, and `D` at its old one — as a copy-and-delete rename is.
//! - The runtime's mount-point stubs (empty `/etc/hosts`, `/proc`, ... that the image lacks)
//!   are not changes: docker keeps them in a separate init layer.
//!
//! Order: depth first, names sorted by bytes (a directory before its contents), as docker's
//! walk prints them.

use crate::layer::overlay::{is_opaque, is_whiteout, redirect_of, MergedDir, OverlayView};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// `C`: present before and after, different.
    Changed,
    /// `A`: new.
    Added,
    /// `D`: deleted.
    Deleted,
}

impl ChangeKind {
    /// docker's letter: `A`, `C` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Changed => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }

    /// docker's numeric kind in the API (`0` modify, `1` add, `2` delete).
    pub fn api_kind(self) -> u8 {
        match self {
            ChangeKind::Changed => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The absolute path in the container (`/etc/passwd`), as bytes.
    pub path: Vec<u8>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.kind.letter(),
            String::from_utf8_lossy(&self.path)
        )
    }
}

/// The mount points a container runtime creates in a root file system that lacks them
/// (relative paths). [`runtime_stubs`] keeps those that are really stubs.
pub const MOUNT_POINTS: &[&str] = &[
    "dev",
    "dev/mqueue",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "proc",
    "sys",
    "sys/fs/cgroup",
];

fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn ctx(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Of the `candidates` (relative paths a runtime may have made mount points of), those that
/// are mount-point stubs in `upper`: present there, absent from the image (`lowers`, bottom
/// first), and an empty file or directory. Then the directories that were copied up only to
/// hold such stubs (same mode, owner and mtime as in the image, nothing else in them, not
/// opaque or renamed). Neither belongs in a layer or a diff. Sorted, parents first.
pub fn runtime_stubs(
    lowers: &[PathBuf],
    upper: &Path,
    candidates: &[PathBuf],
) -> io::Result<Vec<PathBuf>> {
    let image = OverlayView::new(lowers.to_vec());
    let mut stubs: Vec<PathBuf> = Vec::new();
    let mut sorted: Vec<&PathBuf> = candidates.iter().collect();
    // Deepest first, so that a stub directory holding only stubs is itself empty.
    sorted.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    sorted.dedup();
    for rel in sorted {
        if rel.as_os_str().is_empty() || !beneath_is_real(upper, rel)? {
            continue;
        }
        let path = upper.join(rel);
        let Some(meta) = lstat(&path).map_err(ctx(&path))? else {
            continue;
        };
        if image.lookup(rel).map_err(ctx(&path))?.is_some() {
            continue;
        }
        let empty = if meta.is_dir() {
            only_excluded(&path, rel, &stubs)?
        } else {
            meta.is_file() && meta.len() == 0
        };
        if empty {
            stubs.push(rel.clone());
        }
    }
    // Parents copied up only because a stub was made in them.
    let mut parents: Vec<PathBuf> = stubs
        .iter()
        .flat_map(|s| s.ancestors().skip(1))
        .filter(|a| !a.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    parents.dedup();
    for rel in parents {
        if stubs.contains(&rel) || !beneath_is_real(upper, &rel)? {
            continue;
        }
        let path = upper.join(&rel);
        let Some(meta) = lstat(&path).map_err(ctx(&path))? else {
            continue;
        };
        let Some(lower) = image.lookup(&rel).map_err(ctx(&path))? else {
            continue;
        };
        let same = meta.is_dir()
            && lower.meta.is_dir()
            && meta.mode() == lower.meta.mode()
            && meta.uid() == lower.meta.uid()
            && meta.gid() == lower.meta.gid()
            && (meta.mtime(), meta.mtime_nsec()) == (lower.meta.mtime(), lower.meta.mtime_nsec());
        if same
            && !is_opaque(&path).map_err(ctx(&path))?
            && redirect_of(&path).map_err(ctx(&path))?.is_none()
            && only_excluded(&path, &rel, &stubs)?
        {
            stubs.push(rel);
        }
    }
    stubs.sort_by(|a, b| {
        sort_key(a.as_os_str().as_bytes()).cmp(&sort_key(b.as_os_str().as_bytes()))
    });
    Ok(stubs)
}

/// Whether every ancestor of `rel` below `root` is a real directory (a container may have
/// replaced one with a link; nothing here follows it).
fn beneath_is_real(root: &Path, rel: &Path) -> io::Result<bool> {
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        match lstat(&cur)? {
            Some(m) if m.is_dir() => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Whether the directory `path` (at `rel`) holds nothing but entries in `excluded`.
fn only_excluded(path: &Path, rel: &Path, excluded: &[PathBuf]) -> io::Result<bool> {
    for entry in fs::read_dir(path).map_err(ctx(path))? {
        let entry = entry.map_err(ctx(path))?;
        if !excluded.contains(&rel.join(entry.file_name())) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A key that sorts paths component by component (`a/b` before `a-b`).
fn sort_key(path: &[u8]) -> Vec<u8> {
    path.iter()
        .map(|&b| if b == b'/' { 0 } else { b })
        .collect()
}

/// docker's `statDifferent`: mode, owner and device always; size and mtime for non-dirs.
fn stat_differs(old: &Metadata, new: &Metadata) -> bool {
    old.mode() != new.mode()
        || old.uid() != new.uid()
        || old.gid() != new.gid()
        || old.rdev() != new.rdev()
        || (!old.is_dir() && (!same_time(old, new) || old.len() != new.len()))
}

/// Equal mtimes, or the same second with one side truncated to whole seconds (a tar
/// round trip), as docker's `sameFsTime`.
fn same_time(a: &Metadata, b: &Metadata) -> bool {
    a.mtime() == b.mtime()
        && (a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0)
}

/// Collects changes keyed by their component-wise sort key.
struct Collector {
    changes: BTreeMap<Vec<u8>, (ChangeKind, Vec<u8>)>,
}

impl Collector {
    fn add(&mut self, kind: ChangeKind, rel: &[u8]) {
        let path = [b"/", rel].concat();
        self.changes.insert(sort_key(&path), (kind, path));
    }

    /// Every listed path's parent directories, as `C` (docker lists them so a layer of the
    /// changes restores their metadata).
    fn add_parents(&mut self) {
        let mut parents = Vec::new();
        for (_, path) in self.changes.values() {
            let mut p = path.as_slice();
            while let Some(i) = p.iter().rposition(|&b| b == b'/') {
                p = &p[..i];
                if p.is_empty() {
                    break;
                }
                parents.push(p.to_vec());
            }
        }
        for p in parents {
            self.changes
                .entry(sort_key(&p))
                .or_insert((ChangeKind::Changed, p));
        }
    }
}

fn join(prefix: &[u8], name: &OsStr) -> Vec<u8> {
    if prefix.is_empty() {
        name.as_bytes().to_vec()
    } else {
        [prefix, b"/", name.as_bytes()].concat()
    }
}

/// The changes of the overlay upper dir `upper` over the image layers `lowers` (bottom
/// first, unpacked as overlay lower dirs), leaving out the paths in `exclude` (relative; see
/// [`runtime_stubs`]). See the module comment for what is listed.
pub fn changes(lowers: &[PathBuf], upper: &Path, exclude: &[PathBuf]) -> io::Result<Vec<Change>> {
    let old = OverlayView::new(lowers.to_vec());
    let mut all = lowers.to_vec();
    all.push(upper.to_path_buf());
    let new = OverlayView::new(all);
    let mut c = Collector {
        changes: BTreeMap::new(),
    };
    let exclude: Vec<Vec<u8>> = exclude
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let differ = Differ {
        old: &old,
        new: &new,
        exclude: &exclude,
    };
    differ.upper_dir(
        upper,
        b"",
        Some(&old.root().map_err(ctx(upper))?),
        &new.root().map_err(ctx(upper))?,
        &mut c,
    )?;
    c.add_parents();
    Ok(c.changes
        .into_values()
        .map(|(kind, path)| Change { kind, path })
        .collect())
}

struct Differ<'a> {
    old: &'a OverlayView,
    new: &'a OverlayView,
    exclude: &'a [Vec<u8>],
}

impl Differ<'_> {
    /// Walks the upper directory `dir` (at `rel`): only what it holds can have changed.
    fn upper_dir(
        &self,
        dir: &Path,
        rel: &[u8],
        old_dir: Option<&MergedDir>,
        new_dir: &MergedDir,
        c: &mut Collector,
    ) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(ctx(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(ctx(dir))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let child_rel = join(rel, &name);
            if self.exclude.contains(&child_rel) {
                continue;
            }
            let path = dir.join(&name);
            let Some(meta) = lstat(&path).map_err(ctx(&path))? else {
                continue;
            };
            let old = match old_dir {
                Some(d) => self.old.child(d, &name).map_err(ctx(&path))?,
                None => None,
            };
            if is_whiteout(&meta) {
                if old.is_some() {
                    c.add(ChangeKind::Deleted, &child_rel);
                }
                continue;
            }
            let Some(new) = self.new.child(new_dir, &name).map_err(ctx(&path))? else {
                continue;
            };
            let Some(old) = old else {
                c.add(ChangeKind::Added, &child_rel);
                if let Some(d) = &new.dir {
                    self.all_added(d, &child_rel, c)?;
                }
                continue;
            };
            match (&old.dir, &new.dir) {
                (Some(old_d), Some(new_d)) => {
                    if stat_differs(&old.meta, &meta) || !same_time(&old.meta, &meta) {
                        c.add(ChangeKind::Changed, &child_rel);
                    }
                    let replaced = is_opaque(&path).map_err(ctx(&path))?
                        || redirect_of(&path).map_err(ctx(&path))?.is_some();
                    if replaced {
                        self.compare(old_d, new_d, &child_rel, c)?;
                    } else {
                        self.upper_dir(&path, &child_rel, Some(old_d), new_d, c)?;
                    }
                }
                (None, Some(new_d)) => {
                    c.add(ChangeKind::Changed, &child_rel);
                    self.all_added(new_d, &child_rel, c)?;
                }
                // A non-directory in the upper dir was copied up to be written, or replaced
                // a directory: docker counts both as changed.
                _ => c.add(ChangeKind::Changed, &child_rel),
            }
        }
        Ok(())
    }

    /// Everything below a new directory is new.
    fn all_added(&self, dir: &MergedDir, rel: &[u8], c: &mut Collector) -> io::Result<()> {
        let top = dir
            .stack()
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        for e in self.new.children(dir).map_err(ctx(&top))? {
            let child_rel = join(rel, &e.name);
            if self.exclude.contains(&child_rel) {
                continue;
            }
            c.add(ChangeKind::Added, &child_rel);
            if let Some(d) = &e.dir {
                self.all_added(d, &child_rel, c)?;
            }
        }
        Ok(())
    }

    /// A directory whose upper copy replaces the image's (opaque or renamed): every entry of
    /// both sides compared.
    fn compare(
        &self,
        old_dir: &MergedDir,
        new_dir: &MergedDir,
        rel: &[u8],
        c: &mut Collector,
    ) -> io::Result<()> {
        let top = new_dir
            .stack()
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let old: BTreeMap<Vec<u8>, _> = self
            .old
            .children(old_dir)
            .map_err(ctx(&top))?
            .into_iter()
            .map(|e| (e.name.as_bytes().to_vec(), e))
            .collect();
        let mut new: BTreeMap<Vec<u8>, _> = self
            .new
            .children(new_dir)
            .map_err(ctx(&top))?
            .into_iter()
            .map(|e| (e.name.as_bytes().to_vec(), e))
            .collect();
        for (name, o) in &old {
            let child_rel = join(rel, &o.name);
            if self.exclude.contains(&child_rel) {
                continue;
            }
            let Some(n) = new.remove(name) else {
                c.add(ChangeKind::Deleted, &child_rel);
                continue;
            };
            match (&o.dir, &n.dir) {
                (Some(od), Some(nd)) => {
                    if stat_differs(&o.meta, &n.meta) {
                        c.add(ChangeKind::Changed, &child_rel);
                    }
                    self.compare(od, nd, &child_rel, c)?;
                }
                (None, Some(nd)) => {
                    c.add(ChangeKind::Changed, &child_rel);
                    self.all_added(nd, &child_rel, c)?;
                }
                _ => {
                    let link_differs = o.meta.file_type().is_symlink()
                        && n.meta.file_type().is_symlink()
                        && fs::read_link(&o.path).ok() != fs::read_link(&n.path).ok();
                    if o.dir.is_some() || stat_differs(&o.meta, &n.meta) || link_differs {
                        c.add(ChangeKind::Changed, &child_rel);
                    }
                }
            }
        }
        for (_, n) in new {
            let child_rel = join(rel, &n.name);
            if self.exclude.contains(&child_rel) {
                continue;
            }
            c.add(ChangeKind::Added, &child_rel);
            if let Some(d) = &n.dir {
                self.all_added(d, &child_rel, c)?;
            }
        }
        Ok(())
    }
}

/// `diff CONTAINER`: the changes of the container found by ID, name or prefix.
pub fn diff(
    containers: &super::ContainerStore,
    query: &str,
) -> Result<Vec<Change>, super::commit::CommitError> {
    use super::commit::{base_lowers, container_image, container_stub_candidates, CommitError};
    let store = containers.store();
    let c = containers.find(query)?;
    let image = container_image(store, &c)?;
    let lease = store.lease()?;
    let lowers = base_lowers(store, &image.manifest, &image.config)?;
    let upper = c.upper_dir(store);
    let io = |e| CommitError::Io {
        context: format!("reading {}", upper.display()),
        source: e,
    };
    let stubs = runtime_stubs(&lowers, &upper, &container_stub_candidates(&c)).map_err(io)?;
    let out = changes(&lowers, &upper, &stubs).map_err(io)?;
    drop(lease);
    Ok(out)
}
