//! strata-cache: the content-addressed local image store.
//!
//! The store is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) plus
//! strata's own versioned metadata under `strata/v1/`. The main types:
//!
//! - [`Store`]: opens (and creates) a store; blob reads and writes ([`BlobWriter`]), the image
//!   catalogue in index.json ([`Store::tag`], [`Store::images`], [`Store::update_index`] with
//!   a [`Catalogue`]), garbage collection ([`Store::gc`]), verification ([`Store::check`]) and
//!   disk usage ([`Store::disk_usage`]).
//! - [`Digest`]: a validated `sha256:<hex>` digest; [`DigestWriter`] / [`DigestReader`] hash
//!   content while it streams, [`VerifyingReader`] checks it.
//! - [`oci`]: serde types for descriptors, manifests, indexes and image configs, and media
//!   type constants.
//! - [`Lease`]: what a command holds from its first blob write until its references are
//!   recorded, so a concurrent GC never removes them.
//! - [`Error`]: every failure, naming the path, digest or image involved.
//!
//! Any number of strata processes may use one store at once. Safety rests on three rules:
//! a blob becomes visible only by rename after its digest was verified and its content
//! fsynced; index.json is replaced by rename under an exclusive lock; GC and check run only
//! while no lease is held. A command that fails or dies leaves at most garbage (temp files,
//! unreferenced blobs) that [`Store::check`] with repair, or [`Store::gc`], removes.
//!
//! ```no_run
//! # fn main() -> strata_cache::Result<()> {
//! use strata_cache::{oci, Descriptor, Store};
//! let store = Store::open("/var/lib/strata")?;
//! let lease = store.lease()?;
//! let (config, config_size) = store.put_bytes(b"{}", None)?;
//! let manifest = oci::ImageManifest {
//!     schema_version: 2,
//!     media_type: Some(oci::media_type::OCI_MANIFEST.into()),
//!     artifact_type: None,
//!     config: Descriptor::new(oci::media_type::OCI_CONFIG, config, config_size),
//!     layers: vec![],
//!     subject: None,
//!     annotations: Default::default(),
//! };
//! let (digest, size) = store.put_json(&manifest)?;
//! store.tag(
//!     "docker.io/library/empty:latest",
//!     &Descriptor::new(oci::media_type::OCI_MANIFEST, digest, size),
//! )?;
//! drop(lease);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod catalogue;
mod check;
pub mod digest;
mod error;
mod gc;
mod lock;
pub mod oci;
mod store;
mod usage;
mod walk;

pub use catalogue::{Catalogue, ImageEntry, Untagged};
pub use check::{CheckReport, CorruptBlob, InvalidBlob, MissingBlob, RepairReport};
pub use digest::{Digest, DigestError, DigestReader, DigestWriter, Hasher, VerifyingReader};
pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport};
pub use lock::Lease;
pub use oci::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};
pub use store::{BlobWriter, Store, MAX_DOCUMENT_SIZE, METADATA_VERSION};
pub use usage::{DiskUsage, ImageUsage};
