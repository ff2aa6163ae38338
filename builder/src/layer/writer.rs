//! Directory -> deterministic OCI layer tar, streamed through sha256 (diffID) and a
//! multi-core compressor into a sink.
//!
//! Order: depth first, the children of each directory sorted by tar-name bytes (the order of
//! `Path`'s component-wise comparison), a directory before its contents. Headers carry only
//! what the files say: names relative to the root, mode bits, numeric ids (no user names),
//! whole-second mtimes (clamped to `SOURCE_DATE_EPOCH` when given), no atime/ctime.

use super::diffid::TarHash;
use super::overlay::{MergedDir, OverlayView};
use super::parallel::{BlockCache, ParallelEncoder};
use super::tarfmt::{self, Entry, Kind, ZEROS};
use super::whiteout::{self, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use super::LayerCompression;
use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_cache::{BlockMap, Digest};

/// How to write a layer.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// Compression of the blob.
    pub compression: LayerCompression,
    /// Clamp mtimes to this (seconds since the epoch), as `SOURCE_DATE_EPOCH` asks.
    pub source_date_epoch: Option<i64>,
    /// The directory is an overlayfs upper dir: turn 0/0 character devices into `.wh.NAME`
    /// and opaque directories into `DIR/.wh..wh..opq`.
    pub overlay_whiteouts: bool,
    /// Compression threads; 0 means every core. The bytes do not depend on it.
    pub threads: usize,
    /// Where gzip blocks compressed before can be copied from (the bytes do not depend on
    /// it); with one, [`LayerInfo::blocks`] says where this blob's blocks lie.
    pub block_cache: Option<Arc<dyn BlockCache>>,
    /// The caller takes an uncompressed layer's diffID from its blob's digest, which its sink
    /// (a store blob writer) computes over the very same bytes: with
    /// [`LayerCompression::None`] the tar is then not hashed a second time here and
    /// [`LayerInfo::diff_id`] is `None`. No effect on compressed layers.
    pub diff_id_from_blob: bool,
}

/// What writing a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar; `None` when left to the caller
    /// ([`LayerOptions::diff_id_from_blob`], see [`LayerInfo::diff_id_or_blob`]).
    pub diff_id: Option<Digest>,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Bytes handed to the sink (the blob's size).
    pub compressed_size: u64,
    /// Tar entries written (not counting PAX extension headers).
    pub entries: u64,
    /// Where the blob's compressed blocks lie, to record with
    /// [`strata_cache::Store::blockmap_put`] once the blob is stored (gzip with a block
    /// cache, two blocks or more).
    pub blocks: Option<BlockMap>,
}

impl LayerInfo {
    /// The diffID, given the digest of the blob this layer was written as: the tar's hash, or
    /// when the tar was left unhashed (uncompressed, [`LayerOptions::diff_id_from_blob`]) the
    /// blob's digest, the same sha256 of the same bytes.
    pub fn diff_id_or_blob(&self, blob: &Digest) -> Digest {
        self.diff_id.unwrap_or(*blob)
    }
}

/// Why a layer could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LayerWriteError {
    /// Reading the tree failed.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file changed size while it was being written.
    #[error("{path}: file changed while writing the layer (expected {expected} bytes)")]
    Changed {
        /// The file.
        path: PathBuf,
        /// The size its header announced.
        expected: u64,
    },
    /// The upper dir uses an overlayfs feature a layer cannot express.
    #[error("{path}: overlay xattr {xattr} (redirect_dir/metacopy) cannot be written as a layer; mount with redirect_dir=off,metacopy=off")]
    OverlayIndirection {
        /// The file.
        path: PathBuf,
        /// The xattr found.
        xattr: String,
    },
    /// The root is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    /// Writing, hashing or compressing the stream failed.
    #[error("writing layer stream: {0}")]
    Stream(io::Error),
}

type Result<T> = std::result::Result<T, LayerWriteError>;

/// Extended attributes as (name, value), sorted by name.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> LayerWriteError + '_ {
    move |source| LayerWriteError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts the bytes passed to the sink.
pub(super) struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub(super) type Out<W> = BufWriter<TarHash<ParallelEncoder<Counting<W>>>>;

/// The stream a layer's tar goes into: buffered, hashed (diffID), compressed, counted (for
/// layers written entry by entry, see `tree.rs`).
pub(super) fn open_stream<W: Write>(sink: W, opts: &LayerOptions) -> Result<Out<W>> {
    let encoder = ParallelEncoder::with_block_cache(
        Counting {
            inner: sink,
            count: 0,
        },
        opts.compression,
        opts.threads,
        opts.block_cache.clone(),
    )
    .map_err(LayerWriteError::Stream)?;
    let hash = !(opts.diff_id_from_blob && opts.compression == LayerCompression::None);
    // Large writes into the hasher and compressor; tar headers alone are 512 bytes.
    Ok(BufWriter::with_capacity(
        1 << 20,
        TarHash::new(encoder, hash),
    ))
}

/// Ends the archive (two zero blocks), flushes the compressor and says what was written.
pub(super) fn close_stream<W: Write>(mut out: Out<W>, entries: u64) -> Result<LayerInfo> {
    out.write_all(&ZEROS).map_err(LayerWriteError::Stream)?;
    let hashed = out
        .into_inner()
        .map_err(|e| LayerWriteError::Stream(e.into_error()))?;
    let (encoder, diff_id, uncompressed_size) = hashed.finish();
    let (mut counting, blocks) = encoder.finish_with_map().map_err(LayerWriteError::Stream)?;
    counting.flush().map_err(LayerWriteError::Stream)?;
    Ok(LayerInfo {
        diff_id,
        uncompressed_size,
        compressed_size: counting.count,
        entries,
        blocks,
    })
}

/// Streams exactly `size` bytes of the regular file at `path` (never following a symlink),
/// then the tar padding.
pub(super) fn copy_content<W: Write>(
    out: &mut Out<W>,
    path: &Path,
    size: u64,
    buf: &mut [u8],
) -> Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| LayerWriteError::Read {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let mut file = File::from(fd);
    let mut left = size;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(LayerWriteError::Changed {
                    path: path.to_path_buf(),
                    expected: size,
                })
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(path)(e)),
        };
        out.write_all(&buf[..n]).map_err(LayerWriteError::Stream)?;
        left -= n as u64;
    }
    let pad = tarfmt::padding(size);
    out.write_all(&ZEROS[..pad])
        .map_err(LayerWriteError::Stream)
}

/// Writes the tree under `dir` as a layer into `sink` (see the module comment for the format).
/// The sink receives the compressed blob; its digest is the caller's to compute (a store blob
/// writer does).
pub fn write_layer(dir: &Path, opts: &LayerOptions, sink: impl Write) -> Result<LayerInfo> {
    let source = Source::Dir {
        root: dir,
        view: None,
        exclude: BTreeSet::new(),
    };
    write_tree(source, opts, sink)
}

/// Writes a container's overlay upper dir as a layer, as [`write_layer`] with
/// `overlay_whiteouts` does, with two differences: a directory renamed under
/// `redirect_dir=on` (an `overlay.redirect` xattr) is written whole — opaque, with the contents
/// the mount showed, read through `lowers` (bottom first) — and the paths in `exclude`
/// (relative to `upper`; a runtime's mount-point stubs) are left out with everything below
/// them. Files with only their metadata copied up (`metacopy`) are still refused.
pub fn write_upper_layer(
    upper: &Path,
    lowers: &[PathBuf],
    exclude: &[PathBuf],
    opts: &LayerOptions,
    sink: impl Write,
) -> Result<LayerInfo> {
    let mut layers = lowers.to_vec();
    layers.push(upper.to_path_buf());
    let source = Source::Dir {
        root: upper,
        view: Some(OverlayView::new(layers)),
        exclude: exclude
            .iter()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .collect(),
    };
    let opts = LayerOptions {
        overlay_whiteouts: true,
        ..opts.clone()
    };
    write_tree(source, &opts, sink)
}

/// Writes the tree that the overlay of `layers` (bottom first: lower dirs with overlay
/// whiteouts and opaque or renamed directories, then an upper dir) shows, as one tar without
/// whiteouts: a flattened root file system (`export`).
pub fn write_merged_tree(
    layers: &[PathBuf],
    opts: &LayerOptions,
    sink: impl Write,
) -> Result<LayerInfo> {
    let opts = LayerOptions {
        overlay_whiteouts: false,
        ..opts.clone()
    };
    write_tree(
        Source::Merged(OverlayView::new(layers.to_vec())),
        &opts,
        sink,
    )
}

/// What a layer is written from.
enum Source<'a> {
    /// The files under a directory; with a view of the overlay it is the upper dir of,
    /// renamed directories are resolved through it.
    Dir {
        root: &'a Path,
        view: Option<OverlayView>,
        exclude: BTreeSet<Vec<u8>>,
    },
    /// The merged tree of an overlay.
    Merged(OverlayView),
}

fn write_tree(source: Source<'_>, opts: &LayerOptions, sink: impl Write) -> Result<LayerInfo> {
    let (view, exclude) = match &source {
        Source::Dir {
            root,
            view,
            exclude,
            ..
        } => {
            let root_meta = fs::symlink_metadata(root).map_err(read_err(root))?;
            if !root_meta.is_dir() {
                return Err(LayerWriteError::NotADirectory(root.to_path_buf()));
            }
            (view.as_ref(), exclude)
        }
        Source::Merged(view) => (Some(view), &BTreeSet::new()),
    };
    let out = open_stream(sink, opts)?;
    let mut w = Walker {
        opts,
        view,
        exclude,
        out,
        links: HashMap::new(),
        buf: vec![0; 1 << 20],
        entries: 0,
    };
    let first = match &source {
        Source::Dir { root, .. } => w.plain_children(root)?,
        Source::Merged(view) => {
            let root = view.root().map_err(read_err(&view.layers()[0]))?;
            w.merged_children(&root)?
        }
    };
    w.walk(first)?;
    let Walker { out, entries, .. } = w;
    close_stream(out, entries)
}

/// A directory being walked: its tar name prefix and its remaining children, sorted.
struct Frame {
    prefix: Vec<u8>,
    children: std::vec::IntoIter<Child>,
}

/// An entry to write: its name, the file that provides it and, inside a merged directory,
/// what it is made of when it is a directory itself.
struct Child {
    name: OsString,
    path: PathBuf,
    merged: Option<MergedDir>,
    /// Read through the view: overlay bookkeeping is resolved, never written.
    in_view: bool,
}

struct Walker<'a, W: Write> {
    opts: &'a LayerOptions,
    /// The overlay the walked directory belongs to (merged trees, renamed directories).
    view: Option<&'a OverlayView>,
    /// Tar names (without a trailing slash) left out with everything below them.
    exclude: &'a BTreeSet<Vec<u8>>,
    out: Out<W>,
    /// (dev, ino) of multiply-linked files -> the tar name they were first written under.
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
    entries: u64,
}

/// The children of `path` in the order their tar names sort (byte order of names, never the
/// directory's own order). In an overlay upper dir a whiteout device sorts as the `.wh.NAME`
/// it becomes.
fn sorted_children(path: &Path, overlay: bool) -> Result<std::vec::IntoIter<OsString>> {
    let mut names: Vec<(Vec<u8>, OsString)> = Vec::new();
    for entry in fs::read_dir(path).map_err(read_err(path))? {
        let entry = entry.map_err(read_err(path))?;
        let name = entry.file_name();
        let mut key = name.as_bytes().to_vec();
        if overlay && entry.file_type().map_err(read_err(path))?.is_char_device() {
            let child = entry.path();
            let meta = fs::symlink_metadata(&child).map_err(read_err(&child))?;
            if meta.rdev() == 0 {
                key = [WHITEOUT_PREFIX, name.as_bytes()].concat();
            }
        }
        names.push((key, name));
    }
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(names
        .into_iter()
        .map(|(_, name)| name)
        .collect::<Vec<_>>()
        .into_iter())
}

impl<W: Write> Walker<'_, W> {
    fn plain_children(&self, dir: &Path) -> Result<std::vec::IntoIter<Child>> {
        let names = sorted_children(dir, self.opts.overlay_whiteouts)?;
        Ok(names
            .map(|name| Child {
                path: dir.join(&name),
                name,
                merged: None,
                in_view: false,
            })
            .collect::<Vec<_>>()
            .into_iter())
    }

    fn merged_children(&self, dir: &MergedDir) -> Result<std::vec::IntoIter<Child>> {
        let view = self.view.expect("merged directories come from a view");
        let top = dir
            .stack()
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let entries = view.children(dir).map_err(read_err(&top))?;
        Ok(entries
            .into_iter()
            .map(|e| Child {
                name: e.name,
                path: e.path,
                merged: e.dir,
                in_view: true,
            })
            .collect::<Vec<_>>()
            .into_iter())
    }

    fn walk(&mut self, first: std::vec::IntoIter<Child>) -> Result<()> {
        // An explicit stack: a hostile deep tree cannot overflow the thread's stack.
        let mut stack = vec![Frame {
            prefix: Vec::new(),
            children: first,
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.children.next() else {
                stack.pop();
                continue;
            };
            let mut tar_name = frame.prefix.clone();
            tar_name.extend_from_slice(child.name.as_bytes());
            if self.exclude.contains(&tar_name) {
                continue;
            }
            let path = child.path;
            let meta = fs::symlink_metadata(&path).map_err(read_err(&path))?;
            let mut merged = child.merged;
            if meta.is_dir() {
                tar_name.push(b'/');
                let mut whole = false;
                if merged.is_none() && self.opts.overlay_whiteouts {
                    if let Some(view) = self.view {
                        if super::overlay::redirect_of(&path)
                            .map_err(read_err(&path))?
                            .is_some()
                        {
                            // Renamed under redirect_dir: written whole, hiding what the
                            // layers below have under the new name.
                            let rel = Path::new(OsStr::from_bytes(&tar_name));
                            merged = view
                                .lookup(rel)
                                .map_err(read_err(&path))?
                                .and_then(|e| e.dir);
                            whole = merged.is_some();
                        }
                    }
                }
                self.dir(&path, &meta, &tar_name, child.in_view || whole, whole)?;
                let children = match &merged {
                    Some(m) => self.merged_children(m)?,
                    None => self.plain_children(&path)?,
                };
                stack.push(Frame {
                    prefix: tar_name,
                    children,
                });
            } else {
                let prefix = frame_prefix(&tar_name);
                self.non_dir(&path, &meta, &prefix, &child.name, tar_name, child.in_view)?;
            }
        }
        Ok(())
    }

    fn mtime(&self, meta: &Metadata) -> i64 {
        let t = meta.mtime();
        match self.opts.source_date_epoch {
            Some(epoch) if t > epoch => epoch,
            _ => t,
        }
    }

    fn header(&mut self, entry: &Entry<'_>) -> Result<()> {
        tarfmt::write_header(&mut self.out, entry).map_err(LayerWriteError::Stream)?;
        self.entries += 1;
        Ok(())
    }

    /// A directory's header; `in_view`: read through the overlay view; `whole`: opaque
    /// whatever its xattrs say (a renamed directory written with all its contents).
    fn dir(
        &mut self,
        path: &Path,
        meta: &Metadata,
        tar_name: &[u8],
        in_view: bool,
        whole: bool,
    ) -> Result<()> {
        let (xattrs, opaque) = self.xattrs(path, in_view)?;
        let opaque = opaque || whole;
        let entry = Entry {
            name: tar_name,
            kind: Kind::Dir,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            mtime: self.mtime(meta),
            xattrs: &xattrs,
        };
        self.header(&entry)?;
        if opaque {
            // Right after its directory, as docker writes it, so an applier sees the marker
            // before any of the directory's new contents.
            let mut name = tar_name.to_vec();
            name.extend_from_slice(WHITEOUT_OPAQUE);
            let marker = Entry {
                name: &name,
                kind: Kind::Regular(0),
                mode: entry.mode & 0o777,
                xattrs: &[],
                ..entry
            };
            self.header(&marker)?;
        }
        Ok(())
    }

    fn non_dir(
        &mut self,
        path: &Path,
        meta: &Metadata,
        prefix: &[u8],
        base: &OsString,
        tar_name: Vec<u8>,
        in_view: bool,
    ) -> Result<()> {
        let ft = meta.file_type();
        let mtime = self.mtime(meta);
        let (uid, gid) = (u64::from(meta.uid()), u64::from(meta.gid()));
        if self.opts.overlay_whiteouts && !in_view && ft.is_char_device() && meta.rdev() == 0 {
            // overlayfs records a deletion as a 0/0 device; a layer says `.wh.NAME`. Such
            // devices may share one inode, so they never become hard links.
            let mut name = prefix.to_vec();
            name.extend_from_slice(WHITEOUT_PREFIX);
            name.extend_from_slice(base.as_bytes());
            return self.header(&Entry {
                name: &name,
                kind: Kind::Regular(0),
                mode: 0o600,
                uid,
                gid,
                mtime,
                xattrs: &[],
            });
        }
        if ft.is_socket() {
            // Sockets cannot be archived; docker and BuildKit skip them too.
            return Ok(());
        }
        let mode = meta.mode() & 0o7777;
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                let (xattrs, _) = self.xattrs(path, in_view)?;
                return self.header(&Entry {
                    name: &tar_name,
                    kind: Kind::Hardlink(&first),
                    mode,
                    uid,
                    gid,
                    mtime,
                    xattrs: &xattrs,
                });
            }
            self.links.insert(key, tar_name.clone());
        }
        let (xattrs, _) = self.xattrs(path, in_view)?;
        let target;
        let kind = if ft.is_file() {
            Kind::Regular(meta.len())
        } else if ft.is_symlink() {
            target = fs::read_link(path).map_err(read_err(path))?;
            Kind::Symlink(target.as_os_str().as_bytes())
        } else if ft.is_char_device() {
            let dev = meta.rdev();
            Kind::Char(rustix::fs::major(dev), rustix::fs::minor(dev))
        } else if ft.is_block_device() {
            let dev = meta.rdev();
            Kind::Block(rustix::fs::major(dev), rustix::fs::minor(dev))
        } else {
            Kind::Fifo
        };
        self.header(&Entry {
            name: &tar_name,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattrs: &xattrs,
        })?;
        if let Kind::Regular(size) = kind {
            self.content(path, size)?;
        }
        Ok(())
    }

    /// Copies exactly `size` bytes of the file, then the padding.
    fn content(&mut self, path: &Path, size: u64) -> Result<()> {
        copy_content(&mut self.out, path, size, &mut self.buf)
    }

    /// The layer xattrs of `path` sorted by name, and whether it is an opaque overlay dir.
    /// `in_view`: the file was read through an overlay view, which resolved renames and
    /// opaque directories already; only a metacopy (data left below) is refused.
    fn xattrs(&self, path: &Path, in_view: bool) -> Result<(Xattrs, bool)> {
        let names = match list_xattrs(path) {
            Ok(names) => names,
            // A filesystem without xattrs has none to carry.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                return Ok((Vec::new(), false))
            }
            Err(e) => return Err(read_err(path)(e)),
        };
        let mut out = Vec::new();
        let mut opaque = false;
        for name in names {
            let overlay = whiteout::is_overlay_xattr(&name);
            if overlay && in_view && name.ends_with(b".overlay.metacopy") {
                return Err(LayerWriteError::OverlayIndirection {
                    path: path.to_path_buf(),
                    xattr: String::from_utf8_lossy(&name).into_owned(),
                });
            }
            if overlay && (in_view || !self.opts.overlay_whiteouts) {
                continue;
            }
            if !overlay && !whiteout::is_layer_xattr(&name) {
                continue;
            }
            let Some(value) = get_xattr(path, &name).map_err(read_err(path))? else {
                continue;
            };
            if overlay {
                if whiteout::is_overlay_indirection(&name) {
                    return Err(LayerWriteError::OverlayIndirection {
                        path: path.to_path_buf(),
                        xattr: String::from_utf8_lossy(&name).into_owned(),
                    });
                }
                let n = name.as_slice();
                if (n == whiteout::OVERLAY_OPAQUE_TRUSTED.as_bytes()
                    || n == whiteout::OVERLAY_OPAQUE_USER.as_bytes())
                    && value == b"y"
                {
                    opaque = true;
                }
                continue;
            }
            out.push((name, value));
        }
        out.sort();
        Ok((out, opaque))
    }
}

/// The directory part of a tar name, with its trailing slash.
fn frame_prefix(tar_name: &[u8]) -> Vec<u8> {
    match tar_name.iter().rposition(|&b| b == b'/') {
        Some(i) => tar_name[..=i].to_vec(),
        None => Vec::new(),
    }
}

/// The names of the xattrs of `path` (not following a symlink).
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        match rustix::fs::llistxattr(path, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(_) => break,
            Err(rustix::io::Errno::RANGE) => {
                let need = rustix::fs::llistxattr_query(path)?;
                buf.reserve(need.max(buf.capacity() * 2));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// One xattr's value, or None when it vanished meanwhile.
pub(crate) fn get_xattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let name = OsString::from_vec(name.to_vec());
    let mut buf = Vec::with_capacity(64);
    loop {
        buf.clear();
        match rustix::fs::lgetxattr(path, &name, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(_) => return Ok(Some(buf)),
            Err(rustix::io::Errno::NODATA) => return Ok(None),
            Err(rustix::io::Errno::RANGE) => {
                let need = rustix::fs::lgetxattr_query(path, &name)?;
                buf.reserve(need.max(buf.capacity() * 2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
