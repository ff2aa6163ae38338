//! `save`: images from the store into a tar archive.

use super::DockerManifestEntry;
use crate::image::{io_err, Image, Result};
use std::collections::BTreeSet;
use std::io::Write;
use strata_cache::oci::annotations::{IMAGE_NAME, REF_NAME};
use strata_cache::oci::ImageIndex;
use strata_cache::{Descriptor, Digest, Store};
use strata_registry::Reference;

/// The archive layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI layout plus docker's `manifest.json` (what `docker load` reads).
    Docker,
    /// A plain OCI image layout (what `skopeo oci-archive:` and `umoci` read).
    Oci,
}

/// One image to save, with the names to record for it (empty: saved unnamed).
#[derive(Debug, Clone)]
pub struct SaveItem {
    /// The image.
    pub image: Image,
    /// Its names in the archive.
    pub names: Vec<Reference>,
}

/// Writes `items` as a tar archive to `out`. Entries are in a fixed order with fixed
/// metadata, so the same images give the same bytes.
pub fn save_archive(
    store: &Store,
    items: &[SaveItem],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<()> {
    // Held until the last blob is read, so a concurrent prune cannot remove one mid-save.
    let _lease = store.lease()?;
    let mut tar = tar::Builder::new(out);
    let mut index = ImageIndex::default();
    let mut docker_manifest = Vec::new();
    let mut blobs: BTreeSet<Digest> = BTreeSet::new();
    for item in items {
        let manifest = &item.image.manifest;
        blobs.insert(*item.image.entry.digest());
        blobs.insert(manifest.config.digest);
        blobs.extend(manifest.layers.iter().map(|l| l.digest));
        let base = item.image.entry.descriptor.clone();
        if item.names.is_empty() {
            index.manifests.push(base.clone());
        }
        for name in &item.names {
            let mut named: Descriptor = base.clone();
            named
                .annotations
                .insert(IMAGE_NAME.into(), name.to_string());
            if let Some(tag) = name.tag() {
                named.annotations.insert(REF_NAME.into(), tag.to_string());
            }
            index.manifests.push(named);
        }
        docker_manifest.push(DockerManifestEntry {
            config: blob_path(&manifest.config.digest),
            repo_tags: Some(item.names.iter().map(|n| n.familiar_string()).collect()),
            layers: manifest
                .layers
                .iter()
                .map(|l| blob_path(&l.digest))
                .collect(),
        });
    }
    add_dir(&mut tar, "blobs/")?;
    add_dir(&mut tar, "blobs/sha256/")?;
    for digest in &blobs {
        let file = store.open_blob(digest)?;
        let size = file
            .metadata()
            .map_err(io_err(format!("reading blob {digest}")))?
            .len();
        add_file(&mut tar, &blob_path(digest), size, file)?;
    }
    add_bytes(&mut tar, "index.json", &to_json(&index))?;
    if format == ArchiveFormat::Docker {
        add_bytes(&mut tar, "manifest.json", &to_json(&docker_manifest))?;
    }
    add_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_err("writing the archive"))?;
    Ok(())
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn add_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, std::io::empty())
        .map_err(io_err("writing the archive"))
}

fn add_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    body: impl std::io::Read,
) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, size, 0o644);
    tar.append_data(&mut h, path, body)
        .map_err(io_err("writing the archive"))
}

fn add_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<()> {
    add_file(tar, path, bytes.len() as u64, bytes)
}
