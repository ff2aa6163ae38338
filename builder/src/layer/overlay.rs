//! A stack of overlayfs layer directories read the way an overlay mount shows them, without
//! mounting: whiteouts (0/0 character devices) hide, opaque directories stop the merge, and
//! directories renamed under `redirect_dir=on` (`overlay.redirect`, relative or absolute)
//! continue the merge at their old path in the layers below.
//!
//! Used to compare a container's upper dir with its image (`diff`), to write a layer of an
//! upper dir holding renamed directories, and to flatten a container (`export`).

use super::whiteout;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Layer directories, bottom first, seen as one tree.
#[derive(Debug, Clone)]
pub struct OverlayView {
    layers: Vec<PathBuf>,
}

/// One directory of the merged tree: the layer directories that make it up, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedDir {
    stack: Vec<(usize, PathBuf)>,
}

impl MergedDir {
    /// The layer directories that make up this directory, top first, with their layer index
    /// (0 = bottom).
    pub fn stack(&self) -> &[(usize, PathBuf)] {
        &self.stack
    }
}

/// A visible entry of the merged tree.
#[derive(Debug, Clone)]
pub struct MergedEntry {
    /// Its name in its directory.
    pub name: OsString,
    /// The file that provides it (the top-most layer's).
    pub path: PathBuf,
    /// The index of that layer (0 = bottom).
    pub layer: usize,
    /// Its metadata (not following a link).
    pub meta: Metadata,
    /// For a directory: what it is made of.
    pub dir: Option<MergedDir>,
}

/// True for overlayfs's whiteout: a 0/0 character device.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn xattr(path: &Path, names: [&str; 2]) -> io::Result<Option<Vec<u8>>> {
    for name in names {
        match super::writer::get_xattr(path, name.as_bytes()) {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Whether the directory at `path` is opaque (`overlay.opaque` = `y`).
pub fn is_opaque(path: &Path) -> io::Result<bool> {
    Ok(xattr(
        path,
        [
            whiteout::OVERLAY_OPAQUE_TRUSTED,
            whiteout::OVERLAY_OPAQUE_USER,
        ],
    )?
    .is_some_and(|v| v == b"y"))
}

/// The `overlay.redirect` of the directory at `path`, if any.
pub fn redirect_of(path: &Path) -> io::Result<Option<Vec<u8>>> {
    xattr(path, ["trusted.overlay.redirect", "user.overlay.redirect"])
}

fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The normal components of a `/`-separated path (no `..` climbing out).
fn components(path: &Path) -> impl Iterator<Item = &OsStr> {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    })
}

/// `root/rel` when every directory on the way is a real directory in that layer (as the
/// kernel looks a redirect up: a link on the way ends it, it is never followed out of the
/// layer).
fn within(root: &Path, rel: &Path) -> io::Result<Option<PathBuf>> {
    let mut cur = root.to_path_buf();
    let comps: Vec<&OsStr> = components(rel).collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        if i + 1 < comps.len() {
            match lstat(&cur)? {
                Some(m) if m.is_dir() && !is_whiteout(&m) => {}
                _ => return Ok(None),
            }
        }
    }
    Ok((!comps.is_empty()).then_some(cur))
}

impl OverlayView {
    /// The tree of `layers`, bottom first (the last one is the upper dir, if any).
    pub fn new(layers: Vec<PathBuf>) -> OverlayView {
        OverlayView { layers }
    }

    /// The layer directories, bottom first.
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// The root directory.
    pub fn root(&self) -> io::Result<MergedDir> {
        let mut stack = Vec::new();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            stack.push((i, layer.clone()));
            if is_opaque(layer)? {
                break;
            }
        }
        Ok(MergedDir { stack })
    }

    /// The entry `name` of `dir`, None when nothing visible has that name.
    pub fn child(&self, dir: &MergedDir, name: &OsStr) -> io::Result<Option<MergedEntry>> {
        let mut found: Option<MergedEntry> = None;
        let mut stack: Vec<(usize, PathBuf)> = Vec::new();
        // Where to look, top layer first; a redirect replaces what is left of it.
        let mut candidates: Vec<(usize, PathBuf)> =
            dir.stack.iter().map(|(i, p)| (*i, p.join(name))).collect();
        let mut next = 0;
        while next < candidates.len() {
            let (layer, path) = candidates[next].clone();
            next += 1;
            let Some(meta) = lstat(&path)? else { continue };
            if is_whiteout(&meta) {
                break;
            }
            match &found {
                None if !meta.is_dir() => {
                    return Ok(Some(MergedEntry {
                        name: name.to_os_string(),
                        path,
                        layer,
                        meta,
                        dir: None,
                    }))
                }
                None => {
                    found = Some(MergedEntry {
                        name: name.to_os_string(),
                        path: path.clone(),
                        layer,
                        meta,
                        dir: None,
                    })
                }
                // A directory merges only with directories below it.
                Some(_) if !meta.is_dir() => break,
                Some(_) => {}
            }
            stack.push((layer, path.clone()));
            if is_opaque(&path)? {
                break;
            }
            if let Some(target) = redirect_of(&path)? {
                // The layers below this one hold the directory under its old path.
                candidates.truncate(next);
                if target.starts_with(b"/") {
                    let old: PathBuf = components(Path::new(OsStr::from_bytes(&target))).collect();
                    for i in (0..layer).rev() {
                        if let Some(path) = within(&self.layers[i], &old)? {
                            candidates.push((i, path));
                        }
                    }
                } else {
                    let old = OsStr::from_bytes(&target);
                    candidates.extend(
                        dir.stack
                            .iter()
                            .filter(|(i, _)| *i < layer)
                            .map(|(i, p)| (*i, p.join(old))),
                    );
                }
            }
        }
        Ok(found.map(|mut e| {
            e.dir = Some(MergedDir { stack });
            e
        }))
    }

    /// The visible entries of `dir`, sorted by name bytes.
    pub fn children(&self, dir: &MergedDir) -> io::Result<Vec<MergedEntry>> {
        let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (_, path) in &dir.stack {
            for entry in fs::read_dir(path)? {
                names.insert(entry?.file_name().as_bytes().to_vec());
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(e) = self.child(dir, OsStr::from_bytes(&name))? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The entry at `rel` (relative to the root, `/`-separated), None when it is not visible.
    /// The root itself has no entry.
    pub fn lookup(&self, rel: &Path) -> io::Result<Option<MergedEntry>> {
        let mut dir = self.root()?;
        let mut last: Option<MergedEntry> = None;
        for name in components(rel) {
            if let Some(prev) = last.take() {
                match prev.dir {
                    Some(d) => dir = d,
                    None => return Ok(None),
                }
            }
            match self.child(&dir, name)? {
                Some(e) => last = Some(e),
                None => return Ok(None),
            }
        }
        Ok(last)
    }
}
