//! Layer tar -> directory, treating every entry as hostile.
//!
//! Names are cleaned as `filepath.Join("/", name)` would (absolute paths and `..` cannot leave
//! the destination); parents are resolved inside the destination (see `rootfs`), and every
//! change is made relative to the parent's fd with a single-component name, so no link, made
//! by this layer or an earlier one, can lead a write outside. Hard links may only point at
//! files inside the destination; device nodes are made only by root.

use super::rootfs::{self, Root};
use super::whiteout::{self, WhiteoutName};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tar::EntryType;

/// How to extract a layer.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// The destination is a fresh directory that will be an overlayfs lower dir: whiteouts
    /// become overlay whiteouts (0/0 character devices, the opaque xattr) instead of deleting
    /// files (which is what applying onto a merged tree does).
    pub as_overlay_lower: bool,
    /// Mark opaque directories with `user.overlay.opaque` (overlay mounted with `userxattr`)
    /// rather than `trusted.overlay.opaque`.
    pub overlay_userxattr: bool,
    /// Apply the entries' uid/gid. Defaults to whether we run as root.
    pub chown: bool,
    /// Make device nodes. Defaults to whether we run as root; when false (or when mknod is
    /// not permitted) they are skipped and counted.
    pub devices: bool,
    /// Resolve paths in user space even when `openat2` is available (it is used otherwise;
    /// kernels before 5.6 and some seccomp profiles lack it).
    pub portable_resolution: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            as_overlay_lower: false,
            overlay_userxattr: false,
            chown: rustix::process::geteuid().is_root(),
            devices: rustix::process::geteuid().is_root(),
            portable_resolution: false,
        }
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Tar entries read (extension headers not counted).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symbolic links made.
    pub symlinks: u64,
    /// Hard links made.
    pub hardlinks: u64,
    /// Whiteouts applied (deletions, or overlay whiteouts made).
    pub whiteouts: u64,
    /// Opaque-directory markers applied.
    pub opaque_dirs: u64,
    /// Fifos and device nodes made.
    pub specials: u64,
    /// Device nodes skipped because we are not root (or may not make them).
    pub devices_skipped: u64,
    /// Xattrs not applied: not permitted here, unsupported, or overlayfs's own.
    pub xattrs_skipped: u64,
    /// Entries whose names had to be neutralized (absolute, or with `..`).
    pub paths_cleaned: u64,
    /// Entries skipped: the root itself, unsupported types, invalid whiteout names.
    pub skipped: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The destination could not be opened.
    #[error("{path}: {source}")]
    Dest {
        /// The destination.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading the tar stream failed.
    #[error("reading layer: {0}")]
    Read(io::Error),
    /// Applying an entry failed.
    #[error("{path}: {op}: {source}")]
    Entry {
        /// The entry's name as it appears in the tar.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// An entry that cannot be applied safely or at all.
    #[error("{path}: {reason}")]
    Invalid {
        /// The entry's name as it appears in the tar.
        path: String,
        /// Why.
        reason: String,
    },
}

type Result<T> = std::result::Result<T, ExtractError>;

/// Applies the layer tar read from `tar` (uncompressed) onto `dest`.
pub fn extract_layer(tar: impl Read, dest: &Path, opts: &ExtractOptions) -> Result<ExtractStats> {
    let root = Root::open(dest, opts.portable_resolution).map_err(|source| ExtractError::Dest {
        path: dest.to_path_buf(),
        source,
    })?;
    let mut x = Extractor {
        root,
        opts,
        stats: ExtractStats::default(),
        created: HashSet::new(),
        dirs: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(ExtractError::Read)? {
        let entry = entry.map_err(ExtractError::Read)?;
        x.entry(entry)?;
    }
    x.finish_dirs()?;
    // Drain what follows the end marker so a digest computed over the stream is complete.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(ExtractError::Read)?;
    Ok(x.stats)
}

/// Metadata of an entry, PAX records applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A directory whose mode and times are set last: adding children would change its mtime,
/// and a read-only mode would stop them from being added.
struct PendingDir {
    comps: Vec<Vec<u8>>,
    mode: u32,
    mtime: Timespec,
}

struct Extractor<'a> {
    root: Root,
    opts: &'a ExtractOptions,
    stats: ExtractStats,
    /// What this layer created, as (directory's device, inode, name), so an opaque marker
    /// keeps it (merged mode only). Keyed by the real directory, not the entry's path: a
    /// marker reached through a symlink applies to the directory the link leads to.
    created: HashSet<(u64, u64, Vec<u8>)>,
    dirs: Vec<PendingDir>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// A numeric header field as Go's reader takes it: octal padded with spaces or NULs (empty
/// is 0), or GNU base-256 when the top bit is set.
fn number(field: &[u8]) -> Option<u64> {
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            let mut v = u64::from(first & 0x7f);
            for &b in rest {
                v = v.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            return Some(v);
        }
    }
    let text = field
        .split(|&b| b == 0)
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(text).ok()?, 8).ok()
}

fn parse_time(s: &str) -> Option<Timespec> {
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(d - b'0') * 10_i64.pow(8 - i as u32);
    }
    // "-1.5" is 1.5 s before the epoch.
    if secs < 0 || s.starts_with('-') {
        nanos = -nanos;
    }
    Some(Timespec {
        tv_sec: secs + nanos.div_euclid(1_000_000_000),
        tv_nsec: nanos.rem_euclid(1_000_000_000) as _,
    })
}

impl Extractor<'_> {
    fn meta(&mut self, entry: &mut tar::Entry<'_, impl Read>, name: &str) -> Result<Meta> {
        let invalid = |reason: String| ExtractError::Invalid {
            path: name.to_string(),
            reason,
        };
        let old = entry.header().as_old();
        let field = |bytes: &[u8], what: &str| {
            number(bytes).ok_or_else(|| invalid(format!("invalid {what} field in tar header")))
        };
        let mode = field(&old.mode, "mode")? as u32 & 0o7777;
        let mut uid = field(&old.uid, "uid")?;
        let mut gid = field(&old.gid, "gid")?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(field(&old.mtime, "mtime")?).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(ExtractError::Read)? {
            for ext in exts {
                let ext = ext.map_err(ExtractError::Read)?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                match key {
                    "uid" => uid = number().ok_or_else(|| invalid("bad PAX uid".to_string()))?,
                    "gid" => gid = number().ok_or_else(|| invalid("bad PAX gid".to_string()))?,
                    "mtime" => {
                        mtime = std::str::from_utf8(value)
                            .ok()
                            .and_then(parse_time)
                            .ok_or_else(|| invalid("bad PAX mtime".to_string()))?
                    }
                    _ => {
                        if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                            xattrs.push((x.as_bytes().to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        // -1 means "leave unchanged" to chown: never a real id in a layer.
        let id = |v: u64| u32::try_from(v).ok().filter(|&v| v != u32::MAX);
        Ok(Meta {
            mode,
            uid: id(uid).ok_or_else(|| invalid(format!("uid {uid} out of range")))?,
            gid: id(gid).ok_or_else(|| invalid(format!("gid {gid} out of range")))?,
            mtime,
            xattrs,
        })
    }

    fn entry(&mut self, mut entry: tar::Entry<'_, impl Read>) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XHeader
                | EntryType::XGlobalHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        self.stats.entries += 1;
        let raw = entry.path_bytes().into_owned();
        // Old archivers mark directories only by a trailing slash on a "regular" entry (Go's
        // reader reads them so, too).
        let kind = if kind == EntryType::Regular && raw.ends_with(b"/") {
            EntryType::Directory
        } else {
            kind
        };
        let name = lossy(&raw);
        let (comps, cleaned) = rootfs::clean(&raw);
        if cleaned {
            self.stats.paths_cleaned += 1;
        }
        let Some((&base, parent)) = comps.split_last() else {
            // The root itself: its metadata belongs to whoever made the destination.
            self.stats.skipped += 1;
            return Ok(());
        };
        match whiteout::classify_whiteout(base) {
            WhiteoutName::None => {}
            WhiteoutName::Meta => {
                self.stats.skipped += 1;
                return Ok(());
            }
            WhiteoutName::Opaque => return self.opaque(parent, &name),
            WhiteoutName::Delete(target) => {
                if matches!(target, b"" | b"." | b"..") {
                    self.stats.skipped += 1;
                    return Ok(());
                }
                return self.whiteout(parent, target, &name);
            }
        }
        let meta = self.meta(&mut entry, &name)?;
        let err = |op: &'static str| {
            let name = name.clone();
            move |source: io::Error| ExtractError::Entry {
                path: name,
                op,
                source,
            }
        };
        let dir = self
            .root
            .dir(parent, true)
            .map_err(err("resolving parent"))?
            .ok_or_else(|| io::Error::from(Errno::NOENT))
            .map_err(err("resolving parent"))?;
        let existing = rootfs::lstat_at(dir.as_fd(), base).map_err(err("stat"))?;
        let is_dir = kind == EntryType::Directory;
        // In a lower dir, a directory that replaces this layer's own whiteout (`.wh.d` then
        // `d/`) must hide what lies below, so it becomes opaque rather than merging.
        let replaces_whiteout = self.opts.as_overlay_lower
            && is_dir
            && existing == Some(FileType::CharacterDevice)
            && rustix::fs::statat(&dir, os(base), AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| st.st_rdev == 0);
        if let Some(ft) = existing {
            // As docker: only a directory onto a directory merges; anything else replaces.
            if !(is_dir && ft == FileType::Directory) {
                rootfs::remove_all(dir.as_fd(), base).map_err(err("replacing"))?;
            }
        }
        if !self.opts.as_overlay_lower {
            let key = dir_key(dir.as_fd(), base).map_err(err("stat"))?;
            self.created.insert(key);
        }
        match kind {
            EntryType::Directory => {
                if existing != Some(FileType::Directory) {
                    rustix::fs::mkdirat(&dir, os(base), Mode::from_raw_mode(0o700))
                        .map_err(|e| err("mkdir")(e.into()))?;
                }
                let fd = rustix::fs::openat(
                    &dir,
                    os(base),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| err("open dir")(e.into()))?;
                self.owner_and_xattrs(fd.as_fd(), &meta)
                    .map_err(err("metadata"))?;
                if replaces_whiteout {
                    self.mark_opaque(fd.as_fd())
                        .map_err(err("setting opaque xattr"))?;
                }
                self.dirs.push(PendingDir {
                    comps: comps.iter().map(|c| c.to_vec()).collect(),
                    mode: meta.mode,
                    mtime: meta.mtime,
                });
                self.stats.dirs += 1;
            }
            EntryType::Regular | EntryType::Continuous => {
                let fd = rustix::fs::openat(
                    &dir,
                    os(base),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| err("create")(e.into()))?;
                let mut file = File::from(fd);
                let want = entry.size();
                let n = io::copy(&mut entry, &mut file).map_err(ExtractError::Read)?;
                // The reader ends a truncated stream quietly; a short file must not pass.
                if n != want {
                    return Err(ExtractError::Read(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{name}: truncated: {n} of {want} bytes"),
                    )));
                }
                self.stats.bytes += n;
                self.owner_and_xattrs(file.as_fd(), &meta)
                    .map_err(err("metadata"))?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode))
                    .map_err(|e| err("chmod")(e.into()))?;
                rustix::fs::futimens(&file, &times(meta.mtime))
                    .map_err(|e| err("utimes")(e.into()))?;
                self.stats.files += 1;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| ExtractError::Invalid {
                        path: name.clone(),
                        reason: "symlink without a target".into(),
                    })?
                    .into_owned();
                rustix::fs::symlinkat(os(&target), &dir, os(base))
                    .map_err(|e| err("symlink")(e.into()))?;
                self.chown_at(dir.as_fd(), base, &meta)
                    .map_err(err("lchown"))?;
                rustix::fs::utimensat(
                    &dir,
                    os(base),
                    &times(meta.mtime),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| err("utimes")(e.into()))?;
                self.stats.symlinks += 1;
            }
            EntryType::Link => self.hardlink(&entry, dir.as_fd(), base, &name)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.special(&entry, dir.as_fd(), base, &meta, &name)?
            }
            _ => {
                // GNU volume labels, sparse maps the reader did not fold, unknown types.
                self.stats.skipped += 1;
            }
        }
        Ok(())
    }

    fn hardlink(
        &mut self,
        entry: &tar::Entry<'_, impl Read>,
        dir: BorrowedFd<'_>,
        base: &[u8],
        name: &str,
    ) -> Result<()> {
        let invalid = |reason: String| ExtractError::Invalid {
            path: name.to_string(),
            reason,
        };
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| invalid("hard link without a target".into()))?
            .into_owned();
        // The target is cleaned like any name: it can only be a file inside the destination.
        let (tcomps, cleaned) = rootfs::clean(&raw);
        if cleaned {
            self.stats.paths_cleaned += 1;
        }
        let Some((&tbase, tparent)) = tcomps.split_last() else {
            return Err(invalid("hard link to the root".into()));
        };
        let tdir = self
            .root
            .dir(tparent, false)
            .map_err(|source| ExtractError::Entry {
                path: name.to_string(),
                op: "resolving link target",
                source,
            })?
            .ok_or_else(|| invalid(format!("hard link target {} does not exist", lossy(&raw))))?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, never what it names.
        rustix::fs::linkat(&tdir, os(tbase), dir, os(base), AtFlags::empty()).map_err(|e| {
            ExtractError::Entry {
                path: name.to_string(),
                op: "hard link",
                source: e.into(),
            }
        })?;
        self.stats.hardlinks += 1;
        Ok(())
    }

    fn special(
        &mut self,
        entry: &tar::Entry<'_, impl Read>,
        dir: BorrowedFd<'_>,
        base: &[u8],
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        let h = entry.header();
        let (ft, dev) = match h.entry_type() {
            EntryType::Fifo => (FileType::Fifo, 0),
            t => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let ft = if t == EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                (ft, rustix::fs::makedev(major, minor))
            }
        };
        let device = ft != FileType::Fifo;
        if device && !self.opts.devices {
            self.stats.devices_skipped += 1;
            return Ok(());
        }
        match rustix::fs::mknodat(dir, os(base), ft, Mode::from_raw_mode(meta.mode), dev) {
            Ok(()) => {}
            // Root without CAP_MKNOD (a user namespace): skipped like an unprivileged run.
            Err(Errno::PERM) if device => {
                self.stats.devices_skipped += 1;
                return Ok(());
            }
            Err(e) => {
                return Err(ExtractError::Entry {
                    path: name.to_string(),
                    op: "mknod",
                    source: e.into(),
                })
            }
        }
        let err = |op| {
            move |source| ExtractError::Entry {
                path: name.to_string(),
                op,
                source,
            }
        };
        self.chown_at(dir, base, meta).map_err(err("chown"))?;
        // Not opened to fchmod: opening a device node can have effects of its own.
        rustix::fs::chmodat(
            dir,
            os(base),
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )
        .map_err(|e| err("chmod")(e.into()))?;
        rustix::fs::utimensat(dir, os(base), &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| err("utimes")(e.into()))?;
        self.stats.specials += 1;
        Ok(())
    }

    fn chown_at(&self, dir: BorrowedFd<'_>, base: &[u8], meta: &Meta) -> io::Result<()> {
        if !self.opts.chown {
            return Ok(());
        }
        rustix::fs::chownat(
            dir,
            os(base),
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(Into::into)
    }

    /// Owner first (chown clears setuid bits and file capabilities), then the xattrs.
    fn owner_and_xattrs(&mut self, fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
        if self.opts.chown {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(meta.uid)),
                Some(rustix::fs::Gid::from_raw(meta.gid)),
            )?;
        }
        for (key, value) in &meta.xattrs {
            // A layer may not plant overlayfs's own bookkeeping (opaque, redirect, ...).
            if whiteout::is_overlay_xattr(key) {
                self.stats.xattrs_skipped += 1;
                continue;
            }
            match rustix::fs::fsetxattr(fd, os(key), value, XattrFlags::empty()) {
                Ok(()) => {}
                // Not allowed (trusted.* as non-root) or not supported here: as docker, skip.
                Err(Errno::PERM | Errno::OPNOTSUPP | Errno::ACCESS | Errno::INVAL) => {
                    self.stats.xattrs_skipped += 1
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &[&[u8]], target: &[u8], name: &str) -> Result<()> {
        let err = |op| {
            move |source| ExtractError::Entry {
                path: name.to_string(),
                op,
                source,
            }
        };
        if self.opts.as_overlay_lower {
            let dir = self
                .root
                .dir(parent, true)
                .map_err(err("resolving parent"))?
                .ok_or_else(|| err("resolving parent")(Errno::NOENT.into()))?;
            rootfs::remove_all(dir.as_fd(), target).map_err(err("replacing"))?;
            // 0/0 character device: overlayfs's whiteout (creatable without CAP_MKNOD).
            rustix::fs::mknodat(
                &dir,
                os(target),
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .map_err(|e| err("mknod whiteout")(e.into()))?;
        } else if let Some(dir) = self
            .root
            .dir(parent, false)
            .map_err(err("resolving parent"))?
        {
            rootfs::remove_all(dir.as_fd(), target).map_err(err("removing"))?;
        }
        self.stats.whiteouts += 1;
        Ok(())
    }

    fn opaque(&mut self, parent: &[&[u8]], name: &str) -> Result<()> {
        let err = |op| {
            move |source| ExtractError::Entry {
                path: name.to_string(),
                op,
                source,
            }
        };
        if self.opts.as_overlay_lower {
            let dir = self
                .root
                .dir(parent, true)
                .map_err(err("resolving parent"))?
                .ok_or_else(|| err("resolving parent")(Errno::NOENT.into()))?;
            self.mark_opaque(dir.as_fd())
                .map_err(err("setting opaque xattr"))?;
        } else if let Some(dir) = self
            .root
            .dir(parent, false)
            .map_err(err("resolving parent"))?
        {
            // Everything below that this layer did not itself put there goes.
            for child in rootfs::children(dir.as_fd()).map_err(err("reading dir"))? {
                let key = dir_key(dir.as_fd(), &child).map_err(err("stat"))?;
                if !self.created.contains(&key) {
                    rootfs::remove_all(dir.as_fd(), &child).map_err(err("removing"))?;
                }
            }
        }
        self.stats.opaque_dirs += 1;
        Ok(())
    }

    /// Marks a lower-dir directory opaque for overlayfs.
    fn mark_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        let key = if self.opts.overlay_userxattr {
            whiteout::OVERLAY_OPAQUE_USER
        } else {
            whiteout::OVERLAY_OPAQUE_TRUSTED
        };
        rustix::fs::fsetxattr(dir, key, b"y", XattrFlags::empty()).map_err(Into::into)
    }

    /// Sets directory modes and times once nothing more is added below them.
    fn finish_dirs(&mut self) -> Result<()> {
        for d in std::mem::take(&mut self.dirs).into_iter().rev() {
            let name = lossy(&d.comps.join(&b'/'));
            let comps: Vec<&[u8]> = d.comps.iter().map(Vec::as_slice).collect();
            let Some((&base, parent)) = comps.split_last() else {
                continue;
            };
            let Some(dir) = self.root.dir(parent, false).ok().flatten() else {
                continue;
            };
            // Replaced by a later entry or removed by a whiteout: nothing to do.
            let Ok(fd) = open_dir_nofollow(dir.as_fd(), base) else {
                continue;
            };
            let res = rustix::fs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .and_then(|()| rustix::fs::futimens(&fd, &times(d.mtime)));
            res.map_err(|e| ExtractError::Entry {
                path: name,
                op: "directory metadata",
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

fn dir_key(dir: BorrowedFd<'_>, base: &[u8]) -> io::Result<(u64, u64, Vec<u8>)> {
    let st = rustix::fs::fstat(dir)?;
    Ok((st.st_dev, st.st_ino, base.to_vec()))
}

fn open_dir_nofollow(dir: BorrowedFd<'_>, base: &[u8]) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        os(base),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn times(t: Timespec) -> Timestamps {
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pax_times() {
        let t = parse_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_time("-1.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 500_000_000));
        assert!(parse_time("x").is_none());
    }

    #[test]
    fn parses_numbers_leniently() {
        assert_eq!(number(b"0000755\0"), Some(0o755));
        assert_eq!(number(b" 755 \0"), Some(0o755));
        assert_eq!(number(b"\0\0\0\0"), Some(0));
        assert_eq!(
            number(&[0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]),
            Some(3_000_000)
        );
        assert_eq!(number(b"9"), None);
    }
}
