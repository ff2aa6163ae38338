//! strata-cache: the content-addressed local image store.
//!
//! The store is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) plus
//! strata's own versioned metadata under `strata/v1/`. The main types:
//!
//! - [`Store`]: opens (and creates) a store; blob reads and writes ([`BlobWriter`]), the image
//!   catalogue in index.json ([`Store::tag`], [`Store::images`], [`Store::update_index`] with
//!   a [`Catalogue`]), garbage collection ([`Store::gc`]), verification ([`Store::check`]) and
//!   disk usage ([`Store::disk_usage`]).
//! - Snapshots ([`Store::snapshot`], [`Store::create_snapshot`]): unpacked layers, named by
//!   diffID, used as overlay lower dirs; created once, shared by every build, collected by
//!   GC when no image config or build-cache record names them.
//! - The build cache ([`CacheKey`] -> [`CacheRecord`]: [`Store::cache_get`],
//!   [`Store::cache_put`], [`Store::cache_prune`], ...): each step's layer and config delta.
//!   Its layers are GC roots.
//! - Containers ([`Store::create_container`], [`Store::find_container`],
//!   [`Store::update_container`], [`Store::remove_container`]): a [`ContainerRecord`] per
//!   container (ID, unique name, the image it uses — a GC root — and opaque config and
//!   state) and the directories reserved for it under `strata/v1/containers/<id>/`.
//! - Layer variants ([`Store::variant_get`], [`Store::variant_put`]): a layer's content in
//!   another compression, made by `push --compression` and reused by the next push.
//! - Block maps ([`Store::blockmap_put`], [`Store::blockmaps`], [`BlockMap`]): where each
//!   independently compressed block of a layer blob lies, so a later layer with the same
//!   block copies its compressed bytes instead of compressing it again.
//! - [`Digest`]: a validated `sha256:<hex>` digest; [`DigestWriter`] / [`DigestReader`] hash
//!   content while it streams, [`VerifyingReader`] checks it.
//! - [`oci`]: serde types for descriptors, manifests, indexes and image configs, and media
//!   type constants.
//! - [`Lease`]: what a command holds from its first blob write until its references are
//!   recorded, so a concurrent GC never removes them. A build holds one for its whole run:
//!   the snapshots it mounts and the blobs it writes are safe until its cache records and
//!   image refer to them.
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

mod blob_writer;
mod blockmaps;
mod buildcache;
mod catalogue;
mod check;
mod containers;
pub mod digest;
mod error;
mod gc;
mod lock;
pub mod network;
pub mod oci;
mod snapshots;
mod store;
mod usage;
mod variants;
mod walk;

pub use blockmaps::{BlockEntry, BlockMap, BLOCKMAP_VERSION};
pub use buildcache::{
    CacheKey, CachePruneFilter, CachePruneReport, CacheRecord, CACHE_RECORD_VERSION,
};
pub use catalogue::{Catalogue, ImageEntry, Untagged};
pub use check::{BadCacheRecord, CheckReport, CorruptBlob, InvalidBlob, MissingBlob, RepairReport};
pub use containers::{
    validate_container_name, ContainerId, ContainerLock, ContainerRecord, CONTAINER_RECORD_VERSION,
};
pub use digest::{Digest, DigestError, DigestReader, DigestWriter, Hasher, VerifyingReader};
pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport};
pub use lock::Lease;
pub use oci::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};
pub use snapshots::SnapshotInfo;
pub use store::{BlobWriter, Store, MAX_DOCUMENT_SIZE, METADATA_VERSION};
pub use usage::{DiskUsage, ImageUsage};
pub use variants::{LayerVariant, VARIANT_RECORD_VERSION};
