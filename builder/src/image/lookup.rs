//! Finding an image the way docker does: a name (normalized, `:latest` by default), a
//! `name@sha256:` digest reference, or an ID / manifest digest prefix.

use super::{ImageError, Result};
use strata_cache::{Digest, ImageConfig, ImageEntry, ImageManifest, Platform, Store};
use strata_registry::Reference;

/// An image read from the store: its catalogue entry, manifest, config and ID.
#[derive(Debug, Clone)]
pub struct Image {
    /// The catalogue entry (manifest descriptor and names).
    pub entry: ImageEntry,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The parsed config.
    pub config: ImageConfig,
    /// The image ID: the config digest.
    pub id: Digest,
}

impl Image {
    /// Reads manifest and config of a catalogue entry.
    pub fn load(store: &Store, entry: ImageEntry) -> Result<Image> {
        let manifest = store.manifest(entry.digest())?;
        let config = store.config(&manifest)?;
        let id = manifest.config.digest;
        Ok(Image {
            entry,
            manifest,
            config,
            id,
        })
    }

    /// The image's names as `Reference`s (names the store holds that fail to parse are skipped).
    pub fn references(&self) -> Vec<Reference> {
        self.entry
            .names
            .iter()
            .filter_map(|n| Reference::parse_raw(n).ok())
            .collect()
    }

    /// Sum of the blob sizes of the config and every layer.
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// Looks up `query` as docker's `GetImage` does: first as a name, then as an ID prefix.
pub fn find_image(store: &Store, query: &str) -> Result<Image> {
    let not_found = || ImageError::NotFound(query.to_string());
    if let Ok(reference) = Reference::parse(query) {
        let reference = reference.with_default_tag();
        if let Some(descriptor) = store.resolve(&reference.to_string())? {
            let entry = entry_for(store, &descriptor.digest)?.ok_or_else(not_found)?;
            return Image::load(store, entry);
        }
        if let Some(digest) = reference.digest() {
            let digest: Digest = digest.parse().map_err(|_| not_found())?;
            if let Some(entry) = entry_for(store, &digest)? {
                return Image::load(store, entry);
            }
        }
    }
    match store.find_by_id(query) {
        Ok(entry) => Image::load(store, entry),
        Err(strata_cache::Error::NameNotFound(_)) => Err(not_found()),
        Err(err) => Err(err.into()),
    }
}

fn entry_for(store: &Store, manifest: &Digest) -> Result<Option<ImageEntry>> {
    Ok(store.images()?.into_iter().find(|e| e.digest() == manifest))
}

/// The platform of this machine in OCI terms (`linux/amd64`, `linux/arm64`...).
pub fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    Platform {
        architecture: architecture.to_string(),
        os: std::env::consts::OS.to_string(),
        ..Default::default()
    }
}
