//! An image's file system flattened: into a directory (`build -o type=local`) or a tar
//! (`build -o type=tar`), every layer applied in order with the safe extractor.

use super::{io_err, Image, ImageError, Result};
use crate::layer::{decompress, extract_layer, ExtractOptions};
use std::io::{BufReader, Write};
use std::path::Path;
use strata_cache::Store;

/// Applies every layer of `image` onto `dest` (whiteouts delete, as docker export shows it).
pub fn export_rootfs_dir(store: &Store, image: &Image, dest: &Path) -> Result<()> {
    for layer in &image.manifest.layers {
        let blob = store.open_blob(&layer.digest)?;
        let (_, tar) = decompress(BufReader::with_capacity(1 << 16, blob))
            .map_err(io_err(format!("reading layer {}", layer.digest)))?;
        extract_layer(tar, dest, &ExtractOptions::default())
            .map_err(|e| ImageError::Archive(format!("layer {}: {e}", layer.digest)))?;
    }
    Ok(())
}

/// The flattened file system as one tar stream (made from a temporary directory in the
/// store, so it is streamed, not held in memory).
pub fn export_rootfs_tar(store: &Store, image: &Image, out: impl Write) -> Result<()> {
    let base = store.tmp_dir();
    std::fs::create_dir_all(&base).map_err(io_err(format!("creating {}", base.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(&base)
        .map_err(io_err("creating a temporary directory"))?;
    export_rootfs_dir(store, image, tmp.path())?;
    let opts = crate::layer::LayerOptions {
        compression: crate::layer::LayerCompression::None,
        ..Default::default()
    };
    crate::layer::write_layer(tmp.path(), &opts, out)
        .map_err(|e| ImageError::Archive(format!("writing the rootfs tar: {e}")))?;
    Ok(())
}
