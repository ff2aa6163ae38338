//! COPY and ADD: the selected sources are placed into a [`CopySink`]: a [`TreeSink`] that
//! describes the layer entry by entry (the tar is then streamed straight from the sources,
//! no file is created), or, for ADD of local archives (which must be unpacked), a staging
//! directory laid out as the image's root.

use super::rootfs::resolve_user;
use super::SolveError;
use crate::context::{ContextView, Entry, EntryKind, PatternMatcher, Placed, StatCache, Timestamp};
use crate::dockerfile::instructions::Copy;
use crate::layer::{decompress, extract_layer, Compression, ExtractOptions};
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How copied files are owned and moded.
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    /// `--chown` resolved; None keeps the source's owner (COPY --from) or root (context).
    pub owner: Option<(u32, u32)>,
    /// Sources from the context are owned by root unless chowned.
    pub from_context: bool,
    /// `--chmod` as octal bits.
    pub chmod: Option<u32>,
    /// Copied files keep their file capabilities (see `copytree::source_xattrs`): sources
    /// from a stage or image, or from a context unpacked from a tar.
    pub keep_caps: bool,
}

impl Ownership {
    /// Resolves `--chown` (through the image's /etc/passwd and /etc/group in `lowers`) and
    /// `--chmod`.
    pub fn of(
        copy: &Copy,
        from_context: bool,
        lowers: &[PathBuf],
    ) -> Result<Ownership, SolveError> {
        let owner = match &copy.chown {
            Some(spec) => {
                let (uid, gid, _) = resolve_user(lowers, spec)?;
                Some((uid, gid))
            }
            None => None,
        };
        let chmod = match &copy.chmod {
            Some(mode) => Some(u32::from_str_radix(mode, 8).map_err(|_| {
                SolveError::Unsupported(format!("--chmod={mode}: only octal modes are supported"))
            })?),
            None => None,
        };
        Ok(Ownership {
            owner,
            from_context,
            chmod,
            keep_caps: !from_context,
        })
    }

    /// The owner a copied entry gets.
    pub fn owner_of(&self, src_owner: (u32, u32)) -> (u32, u32) {
        self.owner
            .unwrap_or(if self.from_context { (0, 0) } else { src_owner })
    }

    /// The mode bits a copied (non-symlink) entry gets.
    pub fn mode_of(&self, mode: u32) -> u32 {
        self.chmod.unwrap_or(mode & 0o7777)
    }
}

/// Where a COPY puts what it copies. Paths are absolute in the image (`/app/x`).
pub trait CopySink {
    /// Makes `dir` and its parents; existing image directories keep their mode, owner and
    /// mtime, new ones are 0755 and owned by the chown user (root otherwise).
    fn prepare_dir(&mut self, dir: &str) -> Result<(), SolveError>;
    /// Places the context or stage entry `entry` (content at `host`) at `target`, replacing
    /// what is there (a directory replaced by a non-directory goes with its contents).
    fn put(&mut self, host: &Path, entry: &Entry, target: &str) -> Result<(), SolveError>;
    /// A regular file with `data` (mode 0644 unless chmodded, no source mtime).
    fn put_bytes(&mut self, target: &str, data: &[u8]) -> Result<(), SolveError>;
    /// Sets a copied directory's mtime after its contents were placed.
    fn set_dir_mtime(&mut self, target: &str, mtime: Timestamp) -> Result<(), SolveError>;
    /// Unpacks the tar (plain or compressed) at `host` into `dir` (ADD).
    fn unpack(&mut self, host: &Path, dir: &str) -> Result<(), SolveError>;
}

/// True when the COPY/ADD needs a real directory: ADD of a local archive, which is unpacked.
pub fn needs_staging(copy: &Copy, is_add: bool, view: &ContextView) -> Result<bool, SolveError> {
    if !is_add || copy.unpack == Some(false) {
        return Ok(false);
    }
    for entry in view.select(&copy.sources).map_err(SolveError::context)? {
        if matches!(entry.kind, EntryKind::File) && is_archive(&view.host_path(&entry))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Copies what `copy` selects from `view` into `sink`, resolving the destination against
/// `workdir` and asking `lowers` (the image so far) whether it is a directory.
pub fn copy_into(
    copy: &Copy,
    is_add: bool,
    view: &ContextView,
    workdir: &str,
    lowers: &[PathBuf],
    sink: &mut dyn CopySink,
) -> Result<(), SolveError> {
    if copy.sources.iter().any(|s| s.contains("://")) || copy.checksum.is_some() {
        return Err(SolveError::Unsupported(
            "ADD of URLs is not supported yet".into(),
        ));
    }
    // Symlinks on the way are followed inside the image, as BuildKit does.
    let dest = super::scoped::resolve_dest(lowers, &absolute_dest(&copy.dest, workdir))?;
    let exclude = exclude_matcher(copy)?;
    if copy.parents {
        // The sources keep their paths below the pivot: the destination is a directory.
        sink.prepare_dir(&dest)?;
        for src in &copy.sources {
            let placed = view
                .select_parents(src, &exclude)
                .map_err(SolveError::context)?;
            place(view, &placed, &dest, sink)?;
        }
        return copy_contents(copy, &dest, true, sink);
    }
    let selected = view.select(&copy.sources).map_err(SolveError::context)?;
    let many = selected.len() + copy.contents.len() > 1
        || copy
            .sources
            .iter()
            .any(|s| crate::context::contains_wildcards(s));
    let dest_is_dir = dest.ends_with('/') || is_dir_in(lowers, &dest);
    if many && !dest_is_dir {
        return Err(SolveError::Copy(
            "When using COPY with more than one source file, the destination must be a directory and end with a /".into(),
        ));
    }
    copy_contents(copy, &dest, dest_is_dir, sink)?;
    for entry in &selected {
        let host = view.host_path(entry);
        if entry.is_dir() {
            sink.prepare_dir(&dest)?;
            let placed = view
                .contents_excluding(entry, &exclude)
                .map_err(SolveError::context)?;
            place(view, &placed, &dest, sink)?;
            continue;
        }
        if is_add
            && copy.unpack != Some(false)
            && matches!(entry.kind, EntryKind::File)
            && is_archive(&host)?
        {
            sink.prepare_dir(&dest)?;
            sink.unpack(&host, &dest)?;
            continue;
        }
        let target = if dest_is_dir {
            join(&dest, entry.name())
        } else {
            dest.clone()
        };
        sink.prepare_dir(&parent_of(&target))?;
        sink.put(&host, entry, &target)?;
    }
    Ok(())
}

/// The directory part of an absolute image path.
fn parent_of(target: &str) -> String {
    Path::new(target)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Heredoc sources (`COPY <<EOF /dest`).
fn copy_contents(
    copy: &Copy,
    dest: &str,
    dest_is_dir: bool,
    sink: &mut dyn CopySink,
) -> Result<(), SolveError> {
    for content in &copy.contents {
        let target = if dest_is_dir {
            join(dest, &content.path)
        } else {
            dest.to_string()
        };
        sink.prepare_dir(&parent_of(&target))?;
        sink.put_bytes(&target, content.data.as_bytes())?;
    }
    Ok(())
}

/// The `--exclude` patterns as a matcher (empty when none).
pub fn exclude_matcher(copy: &Copy) -> Result<PatternMatcher, SolveError> {
    PatternMatcher::new(&copy.exclude).map_err(SolveError::context)
}

/// The digest of what a COPY/ADD reads from `view`, for its cache key. With `--exclude` or
/// `--parents` it covers exactly the entries placed and where they land.
pub fn source_digest(
    copy: &Copy,
    view: &ContextView,
    cache: &StatCache,
) -> Result<String, SolveError> {
    let ctx = SolveError::context;
    if copy.exclude.is_empty() && !copy.parents {
        let selected = view.select(&copy.sources).map_err(ctx)?;
        return Ok(view.digest(&selected, cache).map_err(ctx)?.to_string());
    }
    let exclude = exclude_matcher(copy)?;
    let mut placed = Vec::new();
    if copy.parents {
        for src in &copy.sources {
            placed.extend(view.select_parents(src, &exclude).map_err(ctx)?);
        }
    } else {
        for entry in view.select(&copy.sources).map_err(ctx)? {
            if entry.is_dir() {
                placed.extend(view.contents_excluding(&entry, &exclude).map_err(ctx)?);
            } else {
                placed.push(Placed {
                    rel: entry.name().to_string(),
                    entry,
                });
            }
        }
    }
    Ok(view.placed_digest(&placed, cache).map_err(ctx)?.to_string())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SolveError + '_ {
    move |e| SolveError::Io(path.display().to_string(), e)
}

fn absolute_dest(dest: &str, workdir: &str) -> String {
    let keep_slash = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    let mut clean = crate::context::clean(&joined);
    if !clean.starts_with('/') {
        clean.insert(0, '/');
    }
    if keep_slash && !clean.ends_with('/') {
        clean.push('/');
    }
    clean
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name)
}

fn is_dir_in(lowers: &[PathBuf], path: &str) -> bool {
    super::scoped::dir_meta(lowers, path.trim_end_matches('/')).is_some()
}

/// A local tar (plain or compressed) that ADD unpacks, recognised by content as docker does.
fn is_archive(path: &Path) -> Result<bool, SolveError> {
    let file = fs::File::open(path).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(io(path))?.to_vec();
    if Compression::detect(&head) != Compression::None {
        return Ok(true);
    }
    // A ustar/gnu header has its magic at offset 257.
    Ok(head.len() >= 262 && &head[257..262] == b"ustar")
}

/// A staging directory laid out as the image's root (the layer, and renamed, its snapshot).
pub struct Staging<'a> {
    /// The directory.
    pub root: &'a Path,
    /// The image so far, for existing directories' metadata.
    pub lowers: &'a [PathBuf],
    /// Owner and mode rules.
    pub own: Ownership,
}

impl Staging<'_> {
    fn host(&self, target: &str) -> PathBuf {
        self.root.join(target.trim_start_matches('/'))
    }
}

impl CopySink for Staging<'_> {
    fn prepare_dir(&mut self, dir: &str) -> Result<(), SolveError> {
        let mut rel = String::new();
        for comp in dir.split('/').filter(|c| !c.is_empty()) {
            rel = if rel.is_empty() {
                comp.to_string()
            } else {
                format!("{rel}/{comp}")
            };
            let host = self.root.join(&rel);
            if host.is_dir() {
                continue;
            }
            fs::create_dir(&host).map_err(io(&host))?;
            match super::scoped::dir_meta(self.lowers, &rel) {
                Some(meta) => {
                    fs::set_permissions(&host, fs::Permissions::from_mode(meta.mode() & 0o7777))
                        .map_err(io(&host))?;
                    std::os::unix::fs::lchown(&host, Some(meta.uid()), Some(meta.gid()))
                        .map_err(io(&host))?;
                    set_mtime(&host, meta.mtime(), meta.mtime_nsec())?;
                }
                None => {
                    let (uid, gid) = self.own.owner.unwrap_or((0, 0));
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(io(&host))?;
                    std::os::unix::fs::lchown(&host, Some(uid), Some(gid)).map_err(io(&host))?;
                }
            }
        }
        Ok(())
    }

    fn put(&mut self, host: &Path, entry: &Entry, target: &str) -> Result<(), SolveError> {
        let path = self.host(target);
        copy_entry(host, entry, &path, &self.own)?;
        if self.own.keep_caps {
            // After copy_entry's chown, which clears capabilities (see `source_xattrs`).
            let xattrs = super::copytree::source_xattrs(host, &entry.kind)?;
            crate::layer::set_xattrs(&path, &xattrs).map_err(io(&path))?;
        }
        Ok(())
    }

    fn put_bytes(&mut self, target: &str, data: &[u8]) -> Result<(), SolveError> {
        let path = self.host(target);
        fs::write(&path, data).map_err(io(&path))?;
        apply_meta(&path, 0o644, (0, 0), None, &self.own)
    }

    fn set_dir_mtime(&mut self, target: &str, mtime: Timestamp) -> Result<(), SolveError> {
        set_mtime(&self.host(target), mtime.sec, i64::from(mtime.nsec))
    }

    fn unpack(&mut self, host: &Path, dir: &str) -> Result<(), SolveError> {
        let root = self.host(dir);
        let file = fs::File::open(host).map_err(io(host))?;
        let (_, tar) = decompress(BufReader::new(file)).map_err(io(host))?;
        extract_layer(tar, &root, &ExtractOptions::default())
            .map_err(|e| SolveError::Layer(e.to_string()))?;
        Ok(())
    }
}

/// Sets a path's access and modification times without following a final symlink.
pub(super) fn set_mtime(path: &Path, sec: i64, nsec: i64) -> Result<(), SolveError> {
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
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
    .map_err(|e| SolveError::Io(path.display().to_string(), e.into()))
}

fn apply_meta(
    path: &Path,
    mode: u32,
    src_owner: (u32, u32),
    mtime: Option<(i64, i64)>,
    own: &Ownership,
) -> Result<(), SolveError> {
    let (uid, gid) = own
        .owner
        .unwrap_or(if own.from_context { (0, 0) } else { src_owner });
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io(path))?;
    let is_link = fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    if !is_link {
        let mode = own.chmod.unwrap_or(mode & 0o7777);
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))?;
    }
    if let Some((sec, nsec)) = mtime {
        set_mtime(path, sec, nsec)?;
    }
    Ok(())
}

fn copy_entry(
    host: &Path,
    entry: &Entry,
    target: &Path,
    own: &Ownership,
) -> Result<(), SolveError> {
    if fs::symlink_metadata(target).is_ok() {
        if target.is_dir() && !matches!(entry.kind, EntryKind::Dir) {
            fs::remove_dir_all(target).map_err(io(target))?;
        } else if !target.is_dir() {
            fs::remove_file(target).map_err(io(target))?;
        }
    }
    let meta = &entry.meta;
    match &entry.kind {
        EntryKind::File => {
            fs::copy(host, target).map_err(io(host))?;
        }
        EntryKind::Dir => {
            if !target.is_dir() {
                fs::create_dir(target).map_err(io(target))?;
            }
        }
        EntryKind::Symlink(link) => symlink(link, target).map_err(io(target))?,
        other => {
            return Err(SolveError::Copy(format!(
                "{}: cannot copy a {other:?}",
                entry.path
            )));
        }
    }
    apply_meta(
        target,
        meta.mode,
        (meta.uid, meta.gid),
        Some((meta.mtime.sec, i64::from(meta.mtime.nsec))),
        own,
    )
}

/// Copies `placed` entries (in walk order, parents first) below the directory `dest`.
fn place(
    view: &ContextView,
    placed: &[Placed],
    dest: &str,
    sink: &mut dyn CopySink,
) -> Result<(), SolveError> {
    let mut dirs = Vec::new();
    for p in placed {
        let target = join(dest, &p.rel);
        sink.put(&view.host_path(&p.entry), &p.entry, &target)?;
        if p.entry.is_dir() {
            dirs.push((target, p.entry.meta.mtime));
        }
    }
    // Directory mtimes change as their contents are written: set them last.
    for (target, mtime) in dirs.into_iter().rev() {
        sink.set_dir_mtime(&target, mtime)?;
    }
    Ok(())
}
