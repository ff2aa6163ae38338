//! Errors of the distribution client. Messages never carry credentials or tokens.

use strata_cache::Digest;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The connection failed (after retries): DNS, refused, TLS, reset, timeout.
    #[error("{what}: {source}")]
    Transport {
        /// The request, e.g. `GET https://host/v2/`.
        what: String,
        /// The HTTP stack's error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The registry refused our credentials, or we had none and it wants some.
    #[error("{what}: unauthorized: {message}")]
    Unauthorized {
        /// The request.
        what: String,
        /// The registry's explanation (its `errors` body), or a hint.
        message: String,
    },
    /// The registry denied access to the repository (403).
    #[error("{what}: denied: {message}")]
    Denied {
        /// The request.
        what: String,
        /// The registry's explanation.
        message: String,
    },
    /// The manifest, blob or repository does not exist.
    #[error("{what}: not found: {message}")]
    NotFound {
        /// The request.
        what: String,
        /// The registry's explanation.
        message: String,
    },
    /// Any other unexpected status.
    #[error("{what}: unexpected status {status}: {message}")]
    Status {
        /// The request.
        what: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's explanation.
        message: String,
    },
    /// Content did not match its digest or size; nothing of it may be kept.
    #[error("{what}: content mismatch: expected {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes)")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The size announced (0 when unknown).
        expected_size: u64,
        /// The digest of what arrived.
        actual: Digest,
        /// Bytes that arrived.
        actual_size: u64,
    },
    /// A manifest or index was malformed, too large, or of an unknown type.
    #[error("{0}")]
    BadManifest(String),
    /// No manifest of an index matched the platform asked for.
    #[error(
        "no matching manifest for {platform} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform {
        /// The platform asked for.
        platform: String,
        /// The platforms the index offers.
        available: String,
    },
    /// A platform string did not parse.
    #[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT]")]
    BadPlatform(String),
    /// The registry's authentication challenge or token answer could not be used.
    #[error("authentication with {registry} failed: {message}")]
    Auth {
        /// The registry host.
        registry: String,
        /// Why.
        message: String,
    },
    /// Reading the caller's source or writing to the caller's sink failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The credentials file could not be read, parsed or written.
    #[error("{path}: {message}")]
    AuthFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

impl RegistryError {
    /// True when the failure says the thing asked for is absent (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Results of this crate's registry operations.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
