//! Errors of the sandbox: everything that kept a step's process from running.
//!
//! A process that ran and failed is not an error: it is an
//! [`ExitStatus`](super::ExitStatus) with its code.

use std::io;
use std::path::PathBuf;

/// Why a sandboxed step could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The [`RunSpec`](super::RunSpec) is not usable (relative paths, empty args, ...).
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    /// The OCI runtime config uses something the embedded runtime does not implement.
    #[error("the embedded runtime does not support {0}")]
    Unsupported(String),
    /// Preparing the host side (run directory, pipes, files) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A step of the container setup inside the new namespaces failed.
    #[error("sandbox setup failed at `{step}`: {source}")]
    Setup {
        /// The setup step, as the plan describes it (e.g. `mount proc on /proc`).
        step: String,
        /// The errno it failed with.
        #[source]
        source: io::Error,
    },
    /// The step's program could not be executed (not found, not executable).
    #[error("cannot execute {program:?}: {source}")]
    Exec {
        /// `args[0]` of the process.
        program: String,
        /// The errno of the last `execve` tried.
        #[source]
        source: io::Error,
    },
    /// The external OCI runtime could not be started or reported a failure of its own.
    #[error("OCI runtime {runtime}: {message}")]
    Runtime {
        /// The runtime's path.
        runtime: PathBuf,
        /// What went wrong, with the runtime's own error text when it gave one.
        message: String,
    },
    /// The step was cancelled through its [`CancelToken`](super::CancelToken) and killed.
    #[error("the step was cancelled")]
    Cancelled,
}

/// The sandbox's result type.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

impl SandboxError {
    /// An [`SandboxError::Io`] with a description of the failed operation.
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        SandboxError::Io {
            what: what.into(),
            source,
        }
    }
}
