//! `export`: a container's file system flattened into one tar — the image's layers and the
//! container's upper dir read as the overlay mount shows them (whiteouts applied, renamed
//! directories at their new paths), as `docker export` writes it. Read through the layers'
//! snapshots, nothing is unpacked or copied; the tar is streamed.

use super::commit::{base_lowers, container_image, BaseImage, CommitError};
use super::ContainerStore;
use crate::layer::{write_merged_tree, LayerCompression, LayerInfo, LayerOptions};
use std::io::Write;
use std::path::Path;
use strata_cache::Store;

/// Writes the flattened file system of the container whose overlay upper dir is `upper`,
/// running on `image`, to `out` as an uncompressed tar.
pub fn export_container(
    store: &Store,
    image: &BaseImage,
    upper: &Path,
    out: impl Write,
) -> Result<LayerInfo, CommitError> {
    let lease = store.lease()?;
    let mut layers = base_lowers(store, &image.manifest, &image.config)?;
    layers.push(upper.to_path_buf());
    let opts = LayerOptions {
        compression: LayerCompression::None,
        ..LayerOptions::default()
    };
    let info = write_merged_tree(&layers, &opts, out)?;
    drop(lease);
    Ok(info)
}

/// `export CONTAINER`: the container found by ID, name or prefix, flattened into `out`.
pub fn export(
    containers: &ContainerStore,
    query: &str,
    out: impl Write,
) -> Result<LayerInfo, CommitError> {
    let store = containers.store();
    let c = containers.find(query)?;
    let image = container_image(store, &c)?;
    export_container(store, &image, &c.upper_dir(store), out)
}
