//! Reachability: which blobs index.json (and the roots files and build-cache records) refer
//! to, directly or through manifests and nested indexes, and which layer diffIDs the
//! reachable image configs list (their snapshots stay). Shared by GC, check and disk usage.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::oci::{media_type, Descriptor, ImageConfig, ImageIndex, ImageManifest};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;

/// A reference that could not be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The blob is not in the store.
    Missing {
        digest: Digest,
        /// The manifest or index naming it; None for an index.json entry.
        parent: Option<Digest>,
        /// True when the parent is an index (a platform that was never pulled is normal).
        parent_is_index: bool,
    },
    /// A manifest or index that could not be read or parsed (corrupt, not JSON, wrong type).
    Unreadable { digest: Digest, reason: String },
    /// The blob's size differs from the size its descriptor declares.
    SizeMismatch {
        digest: Digest,
        declared: u64,
        actual: u64,
    },
}

/// The outcome of a walk.
#[derive(Debug, Default)]
pub(crate) struct Reach {
    /// Every digest referenced (present or not).
    pub referenced: BTreeSet<Digest>,
    pub problems: Vec<Problem>,
    /// diffIDs listed by the reachable image configs.
    pub diff_ids: BTreeSet<Digest>,
    /// Configs present but unreadable: their diffIDs are unknown, so no snapshot may be
    /// judged unreferenced.
    pub bad_configs: Vec<Digest>,
}

impl Reach {
    /// True when some document could not be followed, so the reachable set may be too small.
    pub fn incomplete(&self) -> Option<(&Digest, &str)> {
        self.problems.iter().find_map(|p| match p {
            Problem::Unreadable { digest, reason } => Some((digest, reason.as_str())),
            _ => None,
        })
    }
}

/// Walks from `roots` (descriptors) through manifests and indexes.
pub(crate) fn walk(store: &Store, roots: &[Descriptor]) -> Result<Reach> {
    let mut reach = Reach::default();
    // (descriptor, parent digest, parent is an index)
    let mut stack: Vec<(Descriptor, Option<Digest>, bool)> = roots
        .iter()
        .rev()
        .map(|d| (d.clone(), None, false))
        .collect();
    while let Some((desc, parent, parent_is_index)) = stack.pop() {
        if !reach.referenced.insert(desc.digest) {
            continue;
        }
        let actual = match fs::metadata(store.blob_path(&desc.digest)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                reach.problems.push(Problem::Missing {
                    digest: desc.digest,
                    parent,
                    parent_is_index,
                });
                continue;
            }
            Err(e) => return Err(Error::io("stat", store.blob_path(&desc.digest), e)),
        };
        if actual != desc.size {
            reach.problems.push(Problem::SizeMismatch {
                digest: desc.digest,
                declared: desc.size,
                actual,
            });
        }
        let me = Some(desc.digest);
        if media_type::is_manifest(&desc.media_type) {
            match store.read_json::<ImageManifest>(&desc.digest) {
                Ok(m) => {
                    let children = std::iter::once(m.config)
                        .chain(m.layers)
                        .chain(m.subject)
                        .collect::<Vec<_>>();
                    stack.extend(children.into_iter().rev().map(|c| (c, me, false)));
                }
                Err(e) => reach.problems.push(unreadable(desc.digest, e)?),
            }
        } else if media_type::is_index(&desc.media_type) {
            match store.read_json::<ImageIndex>(&desc.digest) {
                Ok(i) => {
                    stack.extend(i.subject.into_iter().map(|c| (c, me, false)));
                    stack.extend(i.manifests.into_iter().rev().map(|c| (c, me, true)));
                }
                Err(e) => reach.problems.push(unreadable(desc.digest, e)?),
            }
        } else if media_type::is_config(&desc.media_type) {
            match store.read_json::<ImageConfig>(&desc.digest) {
                Ok(c) => reach.diff_ids.extend(c.rootfs.diff_ids),
                Err(e) => {
                    unreadable(desc.digest, e)?;
                    reach.bad_configs.push(desc.digest);
                }
            }
        }
    }
    Ok(reach)
}

/// Walks from every index.json entry and from the images containers use.
pub(crate) fn walk_all(store: &Store, index: &ImageIndex) -> Result<Reach> {
    let mut roots = index.manifests.clone();
    roots.extend(store.container_images()?);
    walk(store, &roots)
}

/// Turns a document read error into a problem; real I/O errors still abort the walk.
fn unreadable(digest: Digest, e: Error) -> Result<Problem> {
    match e {
        Error::CorruptBlob { .. }
        | Error::Json { .. }
        | Error::BlobTooLarge { .. }
        | Error::BlobNotFound(_) => Ok(Problem::Unreadable {
            digest,
            reason: e.to_string(),
        }),
        other => Err(other),
    }
}

/// Digests GC keeps besides what index.json reaches: the layers of build-cache records and
/// the digests listed in `strata/v1/roots/*` (one per line, blank lines and `#` comments
/// ignored). Returns them with what named them (`"build cache"` or the roots file); lines
/// that are not digests are skipped with a warning (GC keeps only what is named).
pub(crate) fn extra_roots(store: &Store) -> Result<BTreeMap<Digest, String>> {
    let dir = store.roots_dir();
    let mut out: BTreeMap<Digest, String> = crate::buildcache::cache_refs(store)?
        .layers
        .into_iter()
        .map(|d| (d, "build cache".to_string()))
        .collect();
    for entry in crate::store::dir_entries(&dir)? {
        let path = entry.path();
        if !entry.file_type().ctx("stat", &path)?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.parse::<Digest>() {
                Ok(d) => {
                    out.entry(d).or_insert_with(|| name.clone());
                }
                Err(e) => tracing::warn!("{}: ignoring line: {e}", path.display()),
            }
        }
    }
    Ok(out)
}
