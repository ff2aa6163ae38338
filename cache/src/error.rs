//! The store's error type.

use crate::digest::{Digest, DigestError};
use std::io;
use std::path::PathBuf;

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store; each variant names the path, digest or name.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"open"`, `"rename"`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing or reading blob content failed.
    #[error("{context}: {source}")]
    Stream {
        /// What was being streamed.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A digest string is malformed.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// Content did not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, content has {actual} ({size} bytes)")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of what was actually written or read.
        actual: Digest,
        /// Size of what was written or read.
        size: u64,
    },
    /// A blob is not in the store.
    #[error("blob {0} not found in the store")]
    BlobNotFound(Digest),
    /// A blob file's content no longer matches its name.
    #[error("blob {digest} is corrupt: its content hashes to {actual} (run `strata system check --repair`)")]
    CorruptBlob {
        /// The blob's name.
        digest: Digest,
        /// What its content hashes to.
        actual: Digest,
    },
    /// A blob is too large to read into memory.
    #[error("blob {digest} is {size} bytes, larger than the {limit} bytes allowed for a document")]
    BlobTooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A JSON document in the store (blob or index.json) could not be parsed.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        /// Which document (`"blob sha256:..."`, a path).
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A document had a media type the operation does not accept.
    #[error("{digest} has media type {media_type:?}, expected {expected}")]
    UnexpectedMediaType {
        /// The document.
        digest: Digest,
        /// Its media type.
        media_type: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The store's metadata version is not one this build understands.
    #[error("store at {path} has metadata version {found:?}, this strata understands only version 1; use a newer strata or another --root")]
    UnsupportedVersion {
        /// The store root or marker file.
        path: PathBuf,
        /// The version found.
        found: String,
    },
    /// The directory is not a usable OCI image layout.
    #[error("{path} is not a valid OCI image layout: {reason}")]
    InvalidLayout {
        /// The offending file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An image name is not acceptable.
    #[error("invalid image name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// No image has that name.
    #[error("no such image: {0}")]
    NameNotFound(String),
    /// No catalogue entry has that manifest digest.
    #[error("no such image: {0}")]
    ImageNotFound(Digest),
    /// A short ID or reference matched more than one image.
    #[error("{query:?} is ambiguous: it matches {count} images")]
    Ambiguous {
        /// What was looked up.
        query: String,
        /// How many images matched.
        count: usize,
    },
    /// GC or check was called by a thread that holds a lease on the same store.
    #[error("garbage collection or check of {root} requested while this thread holds a lease on it (it would wait for itself); drop the lease first")]
    LeaseHeld {
        /// The store root.
        root: PathBuf,
    },
    /// A snapshot could not be created as asked.
    #[error("snapshot {path}: {reason}")]
    Snapshot {
        /// The snapshot (or temp) directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A build-cache record was refused.
    #[error("build-cache record {path}: {reason}")]
    CacheRecord {
        /// The record file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// No container has that name, ID or ID prefix.
    #[error("No such container: {0}")]
    ContainerNotFound(String),
    /// An ID prefix matched several containers.
    #[error("multiple IDs found with provided prefix: {0}")]
    ContainerAmbiguous(String),
    /// Another container has the name.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    ContainerNameInUse {
        /// The name.
        name: String,
        /// The ID of the container that has it.
        id: String,
    },
    /// A container name, ID or record was refused.
    #[error("{what}: {reason}")]
    InvalidContainer {
        /// The name, ID or record file.
        what: String,
        /// Why.
        reason: String,
    },
    /// GC refused to run because it could not tell what is reachable.
    #[error("garbage collection refused: {digest} is referenced but unreadable ({reason}); run `strata system check --repair`")]
    Unreachable {
        /// The unreadable document.
        digest: Digest,
        /// Why it could not be read.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error means "that image/name/blob does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::BlobNotFound(_)
                | Error::NameNotFound(_)
                | Error::ImageNotFound(_)
                | Error::ContainerNotFound(_)
        )
    }
}

/// Attaches an operation and path to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
