//! Image archives: `save` writes an OCI image layout as a tar — with docker's `manifest.json`
//! beside it for `--format docker`, the layout docker 25+ writes and every `docker load`
//! accepts — and `load` reads that, older docker archives and plain OCI archives. Blobs are
//! streamed; only the small JSON documents are held in memory.

mod load;
mod save;

pub use load::{load_archive, LoadedImage};
pub use save::{save_archive, ArchiveFormat, SaveItem};

/// Upper bound for the JSON documents of an archive held in memory.
const MAX_DOCUMENT: u64 = 16 << 20;

/// docker's `manifest.json` entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}
