//! `load`: docker archives (docker 25+ and the older per-layer layout) and OCI archives,
//! plain or compressed, into the store. Blobs stream straight into the store; nothing is
//! recorded in the catalogue unless the whole archive checks out.

use super::{DockerManifestEntry, MAX_DOCUMENT};
use crate::image::{host_platform, io_err, ImageError, Result};
use crate::layer::{decompress, Compression};
use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use strata_cache::oci::annotations::{IMAGE_NAME, REF_NAME};
use strata_cache::oci::{media_type, ImageConfig, ImageIndex, ImageManifest};
use strata_cache::{Descriptor, Digest, DigestWriter, Store};
use strata_registry::Reference;

/// One image recorded by `load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image ID.
    pub id: Digest,
    /// The names it was given (full form), empty when the archive named none.
    pub names: Vec<Reference>,
}

/// What the tar stream held: blobs stored by path, small documents, symlinks.
#[derive(Default)]
struct Contents {
    blobs: BTreeMap<String, (Digest, u64)>,
    documents: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
}

fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::Archive(msg.into())
}

/// Reads an archive from `input` and records its images.
pub fn load_archive(store: &Store, input: impl Read) -> Result<Vec<LoadedImage>> {
    let lease = store.lease()?;
    let (_, stream) = decompress(BufReader::with_capacity(1 << 16, input))
        .map_err(io_err("reading the archive"))?;
    let contents = read_entries(store, stream)?;
    let images = if contents.documents.contains_key("index.json") {
        oci_images(store, &contents)?
    } else if contents.documents.contains_key("manifest.json") {
        docker_images(store, &contents)?
    } else {
        return Err(invalid(
            "neither index.json nor manifest.json found: not an image archive",
        ));
    };
    if images.is_empty() {
        return Err(invalid("the archive holds no image"));
    }
    let mut loaded = Vec::new();
    store.update_index(|catalogue| {
        for (descriptor, id, names) in &images {
            if names.is_empty() {
                catalogue.add_image(descriptor)?;
            }
            for name in names {
                catalogue.tag(&name.to_string(), descriptor)?;
            }
            loaded.push(LoadedImage {
                id: *id,
                names: names.clone(),
            });
        }
        Ok(())
    })?;
    drop(lease);
    Ok(loaded)
}

fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

fn read_entries(store: &Store, stream: impl Read) -> Result<Contents> {
    let mut contents = Contents::default();
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(io_err("reading the archive"))?;
    for entry in entries {
        let mut entry = entry.map_err(io_err("reading the archive"))?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().to_string();
                let resolved = if kind.is_symlink() {
                    resolve_relative(&path, &target)
                } else {
                    normalize(&target)
                };
                contents.links.insert(path, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        let is_document = !path.contains('/') && !path.ends_with(".tar") && !is_hex_json(&path)
            || path.ends_with("/json")
            || path.ends_with("/VERSION");
        if is_document {
            if size > MAX_DOCUMENT {
                return Err(invalid(format!(
                    "{path} is {size} bytes, too large for a document"
                )));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(io_err(format!("reading {path}")))?;
            contents.documents.insert(path, bytes);
            continue;
        }
        let expected = path
            .strip_prefix("blobs/sha256/")
            .map(|hex| format!("sha256:{hex}").parse::<Digest>())
            .transpose()
            .map_err(|_| invalid(format!("{path}: not a sha256 blob name")))?;
        let mut writer = store.blob_writer()?;
        let copied =
            io::copy(&mut entry, &mut writer).map_err(io_err(format!("reading {path}")))?;
        if copied != size {
            return Err(invalid(format!(
                "{path}: truncated ({copied} of {size} bytes)"
            )));
        }
        let blob = writer.commit(expected.as_ref()).map_err(|e| match e {
            strata_cache::Error::DigestMismatch { .. } => invalid(format!("{path}: {e}")),
            other => other.into(),
        })?;
        contents.blobs.insert(path, blob);
    }
    Ok(contents)
}

fn is_hex_json(path: &str) -> bool {
    path.strip_suffix(".json")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Resolves a symlink target relative to the link's directory, inside the archive.
fn resolve_relative(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl Contents {
    fn blob(&self, path: &str) -> Result<(Digest, u64)> {
        let mut path = normalize(path);
        for _ in 0..8 {
            if let Some(blob) = self.blobs.get(&path) {
                return Ok(*blob);
            }
            match self.links.get(&path) {
                Some(next) => path = next.clone(),
                None => break,
            }
        }
        Err(invalid(format!(
            "{path} is listed but missing from the archive"
        )))
    }

    fn document<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let bytes = self
            .documents
            .get(path)
            .ok_or_else(|| invalid(format!("{path} missing")))?;
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("{path}: {e}")))
    }
}

type Found = (Descriptor, Digest, Vec<Reference>);

fn docker_images(store: &Store, contents: &Contents) -> Result<Vec<Found>> {
    let entries: Vec<DockerManifestEntry> = contents.document("manifest.json")?;
    let mut found = Vec::new();
    for entry in entries {
        let (config_digest, config_size) = contents.blob(&entry.config)?;
        let config: ImageConfig = store.read_json(&config_digest)?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(invalid(format!(
                "{}: {} layers listed, the config has {} diff IDs",
                entry.config,
                entry.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let (digest, size) = contents.blob(path)?;
            let compression = verify_layer(store, &digest, diff_id)?;
            let media = match compression {
                Compression::None => media_type::OCI_LAYER_TAR,
                Compression::Zstd => media_type::OCI_LAYER_TAR_ZSTD,
                _ => media_type::OCI_LAYER_TAR_GZIP,
            };
            layers.push(Descriptor::new(media, digest, size));
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
            layers,
            subject: None,
            annotations: Default::default(),
        };
        let (digest, size) = store.put_json(&manifest)?;
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t).map(|r| r.with_default_tag()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        found.push((
            Descriptor::new(media_type::OCI_MANIFEST, digest, size),
            config_digest,
            names,
        ));
    }
    Ok(found)
}

/// Checks that a layer blob decompresses to the tar its diffID names.
fn verify_layer(store: &Store, digest: &Digest, diff_id: &Digest) -> Result<Compression> {
    let file = store.open_blob(digest)?;
    let (compression, mut tar) =
        decompress(BufReader::new(file)).map_err(io_err(format!("reading layer {digest}")))?;
    if compression == Compression::None && digest == diff_id {
        return Ok(compression);
    }
    let mut hashed = DigestWriter::new(io::sink());
    io::copy(&mut tar, &mut hashed).map_err(io_err(format!("decompressing layer {digest}")))?;
    let (_, actual, _) = hashed.finish();
    if actual != *diff_id {
        return Err(invalid(format!(
            "layer {digest} has diff ID {actual}, the config says {diff_id}"
        )));
    }
    Ok(compression)
}

fn oci_images(store: &Store, contents: &Contents) -> Result<Vec<Found>> {
    let index: ImageIndex = contents.document("index.json")?;
    let mut found: Vec<Found> = Vec::new();
    for descriptor in &index.manifests {
        let manifest_desc = pick_manifest(store, descriptor)?;
        let manifest = store.manifest(&manifest_desc.digest)?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !store.has_blob(&blob.digest)? {
                return Err(invalid(format!(
                    "blob {} is listed but missing from the archive",
                    blob.digest
                )));
            }
        }
        let name = descriptor.annotations.get(IMAGE_NAME).or_else(|| {
            descriptor
                .annotations
                .get(REF_NAME)
                .filter(|n| n.contains([':', '/']))
        });
        let names = match name {
            Some(n) => vec![Reference::parse(n)?.with_default_tag()],
            None => vec![],
        };
        let mut plain = manifest_desc.clone();
        plain.annotations.remove(IMAGE_NAME);
        plain.annotations.remove(REF_NAME);
        match found.iter_mut().find(|(d, _, _)| d.digest == plain.digest) {
            Some((_, _, existing)) => existing.extend(names),
            None => found.push((plain, manifest.config.digest, names)),
        }
    }
    Ok(found)
}

/// A manifest descriptor as is, or from an index the manifest for this machine's platform.
fn pick_manifest(store: &Store, descriptor: &Descriptor) -> Result<Descriptor> {
    if !media_type::is_index(&descriptor.media_type) {
        return Ok(descriptor.clone());
    }
    let index = store.image_index(&descriptor.digest)?;
    let host = host_platform();
    index
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
        })
        .cloned()
        .ok_or_else(|| {
            invalid(format!(
                "index {} has no manifest for {}/{}",
                descriptor.digest, host.os, host.architecture
            ))
        })
}
