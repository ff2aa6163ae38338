//! Images in the store as docker users see them: lookup by name or ID prefix, `import`,
//! `inspect`/`history` views, removal, prune, and docker/OCI archives (`save`/`load`).

pub mod archive;
mod changes;
mod import;
mod lookup;
mod remove;
mod rootfs;
mod view;

pub use changes::{apply_changes, config_with_changes, healthcheck_to_oci};
pub use import::{import_image, ImportOptions, ImportedImage};
pub use lookup::{find_image, host_platform, Image};
pub use remove::{prune_images, remove_image, PruneReport, Removed};
pub use rootfs::{export_rootfs_dir, export_rootfs_tar};
pub use view::{history_rows, inspect_json, HistoryRow};

use strata_registry::ReferenceError;

/// Errors of the image operations.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// A reference did not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A layer stream was refused.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    /// No image by that name or ID.
    #[error("No such image: {0}")]
    NotFound(String),
    /// docker's refusal to delete an image still in use or with several names.
    #[error("conflict: unable to delete {id} (must be forced) - {reason}")]
    Conflict {
        /// The short image ID.
        id: String,
        /// Why.
        reason: String,
    },
    /// docker's refusal to remove the last name of an image a container uses.
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    InUse {
        /// The name as given.
        reference: String,
        /// The short ID of a container using the image.
        container: String,
        /// The short image ID.
        image: String,
    },
    /// A `--change` instruction was refused.
    #[error(transparent)]
    Change(#[from] crate::dockerfile::instructions::FrontendError),
    /// An archive did not have the expected structure.
    #[error("invalid archive: {0}")]
    Archive(String),
    /// Reading or writing a stream failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result of the image operations.
pub type Result<T> = std::result::Result<T, ImageError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}
