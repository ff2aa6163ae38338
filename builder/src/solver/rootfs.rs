//! A stage's file system as a stack of layers, each unpacked once into a snapshot that later
//! builds share; reading single files (passwd, group) through the stack without mounting.

use super::SolveError;
use crate::layer::{decompress, extract_layer, ExtractOptions};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use strata_cache::{Descriptor, Digest, Store};

/// One layer of a stage: its blob and its diffID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// The compressed blob.
    pub descriptor: Descriptor,
    /// The uncompressed tar's digest.
    pub diff_id: Digest,
}

/// The snapshot of `layer`, unpacking its blob first when no build has yet.
pub fn snapshot(store: &Store, layer: &LayerRef) -> Result<PathBuf, SolveError> {
    if let Some(path) = store.snapshot(&layer.diff_id)? {
        return Ok(path);
    }
    store.create_snapshot(&layer.diff_id, |tree: &Path| -> Result<(), SolveError> {
        let blob = store.open_blob(&layer.descriptor.digest)?;
        let (_, tar) = decompress(BufReader::with_capacity(1 << 16, blob))
            .map_err(|e| SolveError::Io(format!("reading layer {}", layer.descriptor.digest), e))?;
        let opts = ExtractOptions {
            as_overlay_lower: true,
            ..Default::default()
        };
        extract_layer(tar, tree, &opts).map_err(|e| SolveError::Layer(e.to_string()))?;
        Ok(())
    })
}

/// Snapshots of every layer, bottom first.
pub fn snapshots(store: &Store, layers: &[LayerRef]) -> Result<Vec<PathBuf>, SolveError> {
    layers.iter().map(|l| snapshot(store, l)).collect()
}

/// Finds `rel` (relative, `/`-separated, taken literally: no symlink in it is followed, on
/// the host or in the image) in the stack, top layer first, honouring whiteouts and opaque
/// directories. The returned path leads through real directories only.
pub fn find(lowers: &[PathBuf], rel: &str) -> Option<PathBuf> {
    super::scoped::lookup(lowers, rel).map(|found| found.host)
}

/// uid, gid and supplementary gids for a `USER` / `--chown` spec, read from the stack's
/// /etc/passwd and /etc/group as docker does; numeric parts need no entry.
pub fn resolve_user(lowers: &[PathBuf], spec: &str) -> Result<(u32, u32, Vec<u32>), SolveError> {
    if spec.is_empty() {
        return Ok((0, 0, vec![]));
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |name: &str| {
        super::scoped::read_file(lowers, name)
            .map(|data| String::from_utf8_lossy(&data).into_owned())
            .unwrap_or_default()
    };
    let passwd = read("/etc/passwd");
    let groups = read("/etc/group");
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[2] == user)
                .and_then(|f| f[3].parse().ok())
                .unwrap_or(0);
            (uid, gid)
        }
        Err(_) => passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == user)
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .ok_or_else(|| {
                SolveError::User(format!(
                    "unable to find user {user}: no matching entries in passwd file"
                ))
            })?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    SolveError::User(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    // Supplementary groups: those listing the user by name, as docker's `getent group`.
    let additional = if group.is_none() && user.parse::<u32>().is_err() {
        groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() > 3 && f[3].split(',').any(|m| m == user))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect()
    } else {
        vec![]
    };
    Ok((uid, gid, additional))
}
