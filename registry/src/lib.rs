//! strata-registry: the distribution-spec client and image references.
//!
//! [`Reference`] parses and normalizes image references as docker does
//! (`busybox` is `docker.io/library/busybox`); [`AnyReference`] also takes
//! image IDs; [`ReferenceError`] carries docker's error messages.
//!
//! [`Client`] talks to registries: manifests and indexes, blobs streamed through the
//! caller's `Read`/`Write` with digests verified, uploads with mounts, tags, and docker's
//! auth flows with credentials from [`credentials::AuthFile`]. It never touches the store.
#![deny(missing_docs)]

pub mod client;
pub mod credentials;
pub mod error;
pub mod platform;
pub mod reference;

pub use client::{
    BlobPush, Client, ClientOptions, Manifest, SearchResult, SearchResults, DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_THRESHOLD,
};
pub use credentials::{AuthFile, Credentials};
pub use error::RegistryError;
pub use platform::{parse_platform, platform_string, select_manifest};
pub use reference::{AnyReference, Reference, ReferenceError};
