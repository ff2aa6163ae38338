//! `import`: a root filesystem tar becomes a one-layer image, like `docker import`.

use super::{host_platform, ImageError, Result};
use crate::layer::{import_tar_as_is, Compression};
use chrono::{DateTime, Utc};
use std::io::Read;
use strata_cache::oci::{media_type, ContainerConfig, History, ImageConfig, ImageManifest, RootFs};
use strata_cache::{Descriptor, Digest, Store};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `-m`: the history comment; docker's default is `Imported from SOURCE`.
    pub message: Option<String>,
    /// What the tar came from (`-` or a path), for the default comment.
    pub source: String,
    /// The config (`-c` changes already applied).
    pub config: ContainerConfig,
    /// The image's creation time.
    pub created: DateTime<Utc>,
}

/// What `import_image` recorded.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// The manifest descriptor (recorded in the catalogue, unnamed until tagged).
    pub manifest: Descriptor,
    /// The image ID (config digest).
    pub id: Digest,
    /// The layer's diffID.
    pub diff_id: Digest,
}

/// Imports a tar stream (plain, gzip or zstd) as a one-layer image, tagging it as `names`.
/// The layer blob is the input byte for byte (checked and hashed on the way, not
/// recompressed: push compresses when a registry wants it). Everything is streamed; a refused input leaves no image behind (at most an unreferenced
/// temp file that is removed at once).
pub fn import_image(
    store: &Store,
    input: impl Read,
    options: &ImportOptions,
    names: &[String],
) -> Result<ImportedImage> {
    let lease = store.lease()?;
    let writer = store.blob_writer()?;
    let (layer, writer) = import_tar_as_is(input, writer)?;
    let layer_media_type = match layer.input_compression {
        Compression::Gzip => media_type::OCI_LAYER_TAR_GZIP,
        Compression::Zstd => media_type::OCI_LAYER_TAR_ZSTD,
        _ => media_type::OCI_LAYER_TAR,
    };
    let (layer_digest, layer_size) = writer.commit(None)?;

    let platform = host_platform();
    let comment = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", options.source));
    let config = ImageConfig {
        created: Some(options.created),
        architecture: platform.architecture,
        os: platform.os,
        config: Some(options.config.clone()),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id],
        },
        history: vec![History {
            created: Some(options.created),
            comment: Some(comment),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (config_digest, config_size) = store.put_json(&config)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
        layers: vec![Descriptor::new(layer_media_type, layer_digest, layer_size)],
        subject: None,
        annotations: Default::default(),
    };
    let (manifest_digest, manifest_size) = store.put_json(&manifest)?;
    let descriptor = Descriptor::new(media_type::OCI_MANIFEST, manifest_digest, manifest_size);
    store.update_index(|catalogue| {
        if names.is_empty() {
            catalogue.add_image(&descriptor)?;
        }
        for name in names {
            catalogue.tag(name, &descriptor)?;
        }
        Ok(())
    })?;
    drop(lease);
    Ok(ImportedImage {
        manifest: descriptor,
        id: config_digest,
        diff_id: layer.diff_id,
    })
}

impl From<strata_cache::DigestError> for ImageError {
    fn from(err: strata_cache::DigestError) -> ImageError {
        ImageError::Archive(err.to_string())
    }
}
