//! The store: OCI image layout on disk, blob reads and writes.
//!
//! Layout under the root given by the caller:
//!
//! ```text
//! ROOT/oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! ROOT/index.json                 image catalogue (OCI image index)
//! ROOT/blobs/sha256/<hex>         content, named by its sha256
//! ROOT/strata/v1/version          metadata version marker ("1")
//! ROOT/strata/v1/tmp/             in-progress blobs and atomic-write temp files
//! ROOT/strata/v1/locks/           gc.lock, index.lock
//! ROOT/strata/v1/roots/           files listing extra digests GC must keep
//! ```
//!
//! A blob becomes visible only by `rename` from `tmp/` after its digest was verified and its
//! content fsynced, so `blobs/sha256/<hex>` always holds complete content with that digest
//! (short of disk corruption, which `check` detects).

pub use crate::blob_writer::BlobWriter;
use crate::digest::{Digest, DigestReader, VerifyingReader};
use crate::error::{Error, IoContext, Result};
use crate::lock::{Exclusive, FileLock, Lease, Mode};
use crate::oci::ImageIndex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The metadata version this build reads and writes (`ROOT/strata/v<N>`).
pub const METADATA_VERSION: u32 = 1;

/// Largest blob [`Store::read_blob`] reads into memory; manifests, indexes and configs are far
/// smaller, layers must be streamed.
pub const MAX_DOCUMENT_SIZE: u64 = 64 << 20;

const OCI_LAYOUT: &str = "oci-layout";
const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
const INDEX: &str = "index.json";
pub(crate) const INDEX_TMP: &str = "index.json.tmp";

/// A handle on a content-addressed image store. Cheap to clone; every method is safe to call
/// from several threads and several processes at once (see [`Lease`] for the one rule
/// callers must follow).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    blobs: PathBuf,
    meta: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating the layout when missing. Idempotent, and safe when
    /// several processes open (and create) the same root at once. Refuses a store whose
    /// strata metadata version or OCI layout version is unknown.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref();
        fs::create_dir_all(root).ctx("create directory", root)?;
        // One spelling per store, so in-process lease bookkeeping (keyed by path) matches.
        let root = fs::canonicalize(root).ctx("resolve path", root)?;
        let meta = root.join("strata").join(format!("v{METADATA_VERSION}"));
        let store = Store {
            blobs: root.join("blobs").join("sha256"),
            meta,
            root,
        };
        store.check_versions()?;
        for dir in [
            store.blobs.clone(),
            store.tmp_dir(),
            store.locks_dir(),
            store.roots_dir(),
        ] {
            fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        }
        let version = store.meta.join("version");
        let layout = store.root.join(OCI_LAYOUT);
        if !version.exists() || !layout.exists() || !store.index_path().exists() {
            // A lease keeps a concurrent GC from collecting our temp files mid-creation.
            let _lease = store.lease()?;
            store.init_file(&version, format!("{METADATA_VERSION}\n"))?;
            store.init_file(&layout, OCI_LAYOUT_CONTENT.to_string())?;
            // Under the index lock so a concurrent open cannot replace an index that another
            // process has meanwhile created and written to.
            let _guard = store.index_lock()?;
            if !store.index_path().exists() {
                store.write_index(&ImageIndex::default())?;
            }
        }
        store.check_versions()?;
        store.check_oci_layout()?;
        Ok(store)
    }

    /// Refuses metadata written by a different (newer) strata.
    fn check_versions(&self) -> Result<()> {
        let strata = self.root.join("strata");
        match fs::read_dir(&strata) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.ctx("read directory", &strata)?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let versioned = name.len() > 1
                        && name.starts_with('v')
                        && name[1..].bytes().all(|b| b.is_ascii_digit());
                    if versioned && name != format!("v{METADATA_VERSION}") {
                        return Err(Error::UnsupportedVersion {
                            path: strata.join(&name),
                            found: name[1..].to_string(),
                        });
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read directory", strata, e)),
        }
        let marker = self.meta.join("version");
        match fs::read_to_string(&marker) {
            Ok(s) if s.trim() == METADATA_VERSION.to_string() => Ok(()),
            Ok(s) => Err(Error::UnsupportedVersion {
                path: marker,
                found: s.trim().to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("read", marker, e)),
        }
    }

    fn check_oci_layout(&self) -> Result<()> {
        let path = self.root.join(OCI_LAYOUT);
        let bytes = fs::read(&path).ctx("read", &path)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
            what: path.display().to_string(),
            source: e,
        })?;
        match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some(v) if v.starts_with("1.") => Ok(()),
            Some(v) => Err(Error::InvalidLayout {
                path,
                reason: format!("unsupported imageLayoutVersion {v:?}"),
            }),
            None => Err(Error::InvalidLayout {
                path,
                reason: "missing imageLayoutVersion".to_string(),
            }),
        }
    }

    /// Creates `path` with `content` unless it exists, atomically (temp file + rename).
    fn init_file(&self, path: &Path, content: String) -> Result<()> {
        if path.exists() {
            return Ok(());
        }
        let tmp = self.new_tmp_path();
        let mut f = create_new(&tmp)?;
        f.write_all(content.as_bytes()).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        drop(f);
        // Concurrent creators write identical content, so whoever renames last is harmless.
        fs::rename(&tmp, path).ctx("rename", path)?;
        sync_dir(path.parent().unwrap_or(&self.root))
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `index.json`.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX)
    }

    /// `ROOT/strata/v1`: where strata keeps its own metadata (later: build-cache index,
    /// snapshots).
    pub fn metadata_dir(&self) -> &Path {
        &self.meta
    }

    /// `ROOT/strata/v1/tmp`: in-progress blobs; anything here while no command runs is
    /// garbage.
    pub fn tmp_dir(&self) -> PathBuf {
        self.meta.join("tmp")
    }

    /// `ROOT/strata/v1/roots`: each file lists digests (one per line, `#` comments allowed)
    /// that GC keeps in addition to everything reachable from index.json. Listed blobs are
    /// kept as they are, not followed (list a manifest's config and layers too). The build
    /// cache records its layers here; write such a file atomically (temp file in
    /// [`Store::tmp_dir`], then rename) while holding a [`Lease`].
    pub fn roots_dir(&self) -> PathBuf {
        self.meta.join("roots")
    }

    fn locks_dir(&self) -> PathBuf {
        self.meta.join("locks")
    }

    pub(crate) fn new_tmp_path(&self) -> PathBuf {
        let id: [u8; 16] = rand::random();
        self.tmp_dir().join(hex::encode(id))
    }

    /// Takes a [`Lease`]: a shared hold on the GC lock. Hold it from a command's first blob
    /// write until its references are recorded in index.json (or a roots file). Waits while a
    /// GC or check runs.
    pub fn lease(&self) -> Result<Lease> {
        Lease::acquire(&self.locks_dir())
    }

    /// The GC lock held exclusively: no lease, writer or other GC is active while it lives.
    pub(crate) fn gc_exclusive(&self) -> Result<Exclusive> {
        Exclusive::acquire(&self.locks_dir(), &self.root)
    }

    pub(crate) fn index_lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.locks_dir().join("index.lock"), Mode::Exclusive)
    }

    // ---- blobs -------------------------------------------------------------------------

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// The directory holding sha256 blobs.
    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.blobs
    }

    /// True when the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Size in bytes of a stored blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound(*digest)),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Opens a blob for streaming. The content is not verified; wrap it in
    /// [`VerifyingReader`] or use [`Store::open_blob_verified`] when it leaves the store.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound(*digest)),
            Err(e) => Err(Error::io("open", path, e)),
        }
    }

    /// Opens a blob for streaming with verification: reading to the end fails with
    /// `InvalidData` if the content does not hash to `digest`.
    pub fn open_blob_verified(&self, digest: &Digest) -> Result<VerifyingReader<File>> {
        let file = self.open_blob(digest)?;
        let size = file.metadata().ctx("stat", self.blob_path(digest))?.len();
        Ok(VerifyingReader::new(file, *digest, Some(size)))
    }

    /// Reads a small blob (a manifest, index or config) into memory, verifying its digest.
    /// Fails with [`Error::BlobTooLarge`] beyond [`MAX_DOCUMENT_SIZE`].
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let file = self.open_blob(digest)?;
        let size = file.metadata().ctx("stat", &path)?.len();
        if size > MAX_DOCUMENT_SIZE {
            return Err(Error::BlobTooLarge {
                digest: *digest,
                size,
                limit: MAX_DOCUMENT_SIZE,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        // The limit also guards against a file that grew after the stat.
        file.take(MAX_DOCUMENT_SIZE + 1)
            .read_to_end(&mut buf)
            .ctx("read", &path)?;
        let actual = Digest::of_bytes(&buf);
        if actual != *digest {
            return Err(Error::CorruptBlob {
                digest: *digest,
                actual,
            });
        }
        Ok(buf)
    }

    /// Reads and parses a small JSON blob, verifying its digest.
    pub fn read_json<T: DeserializeOwned>(&self, digest: &Digest) -> Result<T> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Json {
            what: format!("blob {digest}"),
            source: e,
        })
    }

    /// Starts writing a blob. The writer holds its own shared GC lock while open (so its temp
    /// file is never collected), but the committed blob is protected only by the caller's
    /// [`Lease`] until it is referenced.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let lease = self.lease()?;
        let tmp = self.new_tmp_path();
        let file = create_new(&tmp)?;
        Ok(BlobWriter::new(file, tmp, self.blobs.clone(), lease))
    }

    /// Streams `reader` into a blob; see [`BlobWriter::commit`] for `expected`.
    pub fn put_blob(&self, reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut w = self.blob_writer()?;
        let mut reader = DigestReader::new(reader);
        io::copy(&mut reader, &mut w).map_err(|e| Error::Stream {
            context: "copying into a new blob".to_string(),
            source: e,
        })?;
        w.commit(expected)
    }

    /// Stores an in-memory document.
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.put_blob(bytes, expected)
    }

    /// Serializes `value` as compact JSON and stores it; returns the digest and size of the
    /// exact bytes stored.
    pub fn put_json<T: Serialize>(&self, value: &T) -> Result<(Digest, u64)> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Json {
            what: "document to store".to_string(),
            source: e,
        })?;
        self.put_bytes(&bytes, None)
    }

    /// Every blob file under `blobs/sha256` with a valid name, and its size.
    pub fn list_blobs(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blobs).ctx("read directory", &self.blobs)? {
            let entry = entry.ctx("read directory", &self.blobs)?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(digest) = Digest::from_hex(&name) else {
                continue;
            };
            match entry.metadata() {
                Ok(m) if m.is_file() => out.push((digest, m.len())),
                Ok(_) => {}
                // Removed by a concurrent GC between readdir and stat.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("stat", entry.path(), e)),
            }
        }
        out.sort();
        Ok(out)
    }

    // ---- index.json ----------------------------------------------------------------------

    /// Reads index.json as it is now (a missing file reads as an empty index). Readers need no
    /// lock: writers replace the file by rename, so it is always whole.
    pub fn read_index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Json {
                what: path.display().to_string(),
                source: e,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageIndex::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Replaces index.json: `index.json.tmp` -> fsync -> rename -> fsync root. Caller holds
    /// the index lock.
    pub(crate) fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(index).map_err(|e| Error::Json {
            what: "index.json".to_string(),
            source: e,
        })?;
        bytes.push(b'\n');
        let tmp = self.root.join(INDEX_TMP);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(&bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        drop(f);
        fs::rename(&tmp, self.index_path()).ctx("rename", self.index_path())?;
        sync_dir(&self.root)
    }
}

fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .ctx("create", path)
}

/// Writes `bytes` as `path` (in `dir`) the store's way: a temp file in the store's tmp/, fsync,
/// rename, fsync of `dir`; the temp file goes on failure. A reader sees the old file or the
/// new one, never a part.
pub(crate) fn write_file_atomic(
    store: &Store,
    dir: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    fs::create_dir_all(dir).ctx("create directory", dir)?;
    let tmp = store.new_tmp_path();
    let result = (|| {
        let mut f = create_new(&tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, path).ctx("rename", path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        remove_quietly(&tmp);
    }
    result
}

/// Removes a leftover of `strata/v1/tmp/`: a temp file, or a step's scratch directory tree
/// (left by a killed build). A tree with a mount point inside (a live sandbox's) stays.
pub(crate) fn remove_temp_entry(path: &Path) {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return remove_quietly(path);
    }
    if has_mount_below(path) {
        tracing::warn!(
            "{}: not removed: something is mounted inside",
            path.display()
        );
        return;
    }
    if let Err(e) = crate::snapshots::remove_tree(path) {
        tracing::warn!("{e}");
    }
}

/// Whether a mount point of this mount namespace is `dir` or below it.
fn has_mount_below(dir: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        // Cannot tell: keep the tree.
        return true;
    };
    let dir = dir.to_string_lossy();
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes space, tab, newline and backslash as octal.
        .map(|p| {
            p.replace("\\040", " ")
                .replace("\\011", "\t")
                .replace("\\012", "\n")
                .replace("\\134", "\\")
        })
        .any(|p| p == dir || p.starts_with(&prefix))
}

/// The entries of `dir`; none when it does not exist (a store area nothing was written to
/// yet).
pub(crate) fn dir_entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read directory", dir.to_path_buf(), e)),
    };
    entries.map(|e| e.ctx("read directory", dir)).collect()
}

pub(crate) fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
}

/// fsyncs a directory so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}
