//! The solver: runs a compiled [`BuildGraph`] against the store.
//! Stages of one level of the graph run at the same time. Each step becomes an [`ops::Op`]
//! (the scheduler sees nothing else): it is looked up in the build cache by a key chained
//! from its parent's (see [`key`]); a miss executes it (RUN in the sandbox, COPY/ADD into a
//! staging tree, WORKDIR's mkdir), writes its layer streamed into the store and records it.
//! The target stage is exported as an image and tagged.

mod copy;
mod copytree;
mod export;
pub mod key;
mod mounts;
pub mod ops;
mod progress;
mod remote;
pub mod rootfs;
mod run;
pub mod scoped;
mod stage;

pub use export::to_graph_config;
pub use progress::{Event, Progress, QuietProgress};
pub use rootfs::LayerRef;

use crate::context::{ContextView, StatCache};
use crate::dockerfile::scope::FrontendOptions;
use crate::graph::{compile, BuildGraph};
use crate::image::find_image;
use crate::layer::LayerCompression;
use crate::sandbox::{CancelToken, Runtime, Sandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use strata_cache::{Descriptor, Digest, Store};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name in messages (`Dockerfile`).
    pub dockerfile_name: String,
    /// Its path, for `FILE.dockerignore`; None when read from stdin.
    pub dockerfile_path: Option<PathBuf>,
    /// The context directory.
    pub context_dir: PathBuf,
    /// Keep the context's stat cache for later builds (false for a context unpacked from
    /// stdin into a temporary directory: no later build sees those files again).
    pub remember_context: bool,
    /// Files COPY takes from the context keep their file capabilities: true for a context
    /// unpacked from a tar (BuildKit untars such a context, setting xattrs after the owner),
    /// false for a context directory (BuildKit's transfer of it sets xattrs before its chown,
    /// which clears capabilities).
    pub context_keeps_capabilities: bool,
    /// Build args, target, platforms.
    pub frontend: FrontendOptions,
    /// Full names to tag the result with.
    pub tags: Vec<String>,
    /// `--label`s added to the image.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`: run every step.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (names or indexes) whose steps all run.
    pub no_cache_filter: Vec<String>,
    /// `--explain-cache`: say for each miss which input changed.
    pub explain_cache: bool,
    /// Layer compression.
    pub compression: LayerCompression,
    /// Compression threads; 0 uses every core. The bytes do not depend on it.
    pub compression_threads: usize,
    /// `SOURCE_DATE_EPOCH`: clamps layer mtimes and sets `created`.
    pub source_date_epoch: Option<i64>,
    /// The OCI runtime for RUN.
    pub runtime: Runtime,
    /// `--secret id=...,src=...`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// `--network`: the network of RUN steps that do not say `RUN --network=`.
    pub network: crate::sandbox::NetworkMode,
    /// What the `default` network is: the network (`bridge`, or a user network's name) whose
    /// namespace the build's default-network RUN steps share, or `none` (loopback only) or
    /// `host`. The command takes it from `$STRATA_DEFAULT_NETWORK`, else `bridge`.
    pub default_network: String,
    /// `--memory`, `--cpu-quota`, `--ulimit`, ...: limits of every RUN step (each step in a
    /// cgroup of its own). Not part of cache keys, as in docker.
    pub limits: crate::sandbox::Limits,
    /// Cancels the build (Ctrl-C): the running step is killed, no further step starts.
    pub cancel: CancelToken,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image ID.
    pub id: Digest,
    /// The manifest, recorded in the catalogue.
    pub manifest: Descriptor,
    /// Steps answered from the cache / run.
    pub cached_steps: usize,
    /// Steps run.
    pub executed_steps: usize,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// The Dockerfile was refused.
    #[error("{0}")]
    Frontend(String),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// A base image is not in the store.
    #[error("{0}")]
    Image(String),
    /// The sandbox failed to run a step.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// A RUN exited non-zero.
    #[error("process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed {
        /// The command as BuildKit shows it.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// A COPY/ADD could not be done.
    #[error("{0}")]
    Copy(String),
    /// The context refused a source.
    #[error("{0}")]
    Context(String),
    /// A USER or --chown did not resolve.
    #[error("{0}")]
    User(String),
    /// Writing or reading a layer failed.
    #[error("{0}")]
    Layer(String),
    /// A feature this version does not have.
    #[error("{0}")]
    Unsupported(String),
    /// A file operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// A step failed: `Dockerfile:7: cause`, then the quoted line.
    #[error("{0}")]
    Step(String),
    /// The build was cancelled.
    #[error("the build was cancelled")]
    Cancelled,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SolveError {
    pub(crate) fn context(err: crate::context::ContextError) -> SolveError {
        SolveError::Context(err.to_string())
    }
}

/// What every step of one build shares.
pub struct BuildShared<'a> {
    store: &'a Store,
    request: &'a BuildRequest,
    sandbox: Sandbox,
    progress: &'a dyn Progress,
    context: OnceLock<Result<ContextView, String>>,
    /// Loaded on a thread of its own while the context is walked; see [`Self::stat_cache`].
    stat_cache: OnceLock<StatCache>,
    stat_loader: Mutex<Option<std::thread::JoinHandle<StatCache>>>,
    step_counter: Mutex<usize>,
    counts: Mutex<(usize, usize)>,
    graph: BuildGraph,
    /// Gzip blocks of stored blobs, shared by every layer of the build.
    block_cache: Option<Arc<dyn crate::layer::BlockCache>>,
    /// The network namespace of default-network RUN steps: made by the first one, shared by
    /// the others, torn down when the build ends (None: loopback only, it could not be made).
    run_network: OnceLock<Option<crate::net::Transient>>,
}

/// One step's view of the build.
pub struct StepContext<'a> {
    shared: &'a BuildShared<'a>,
    sandbox: &'a Sandbox,
    step_id: usize,
    stage: &'a crate::graph::Stage,
}

impl StepContext<'_> {
    /// A writer that turns a RUN's output into progress events.
    pub fn output(&self) -> progress::LineWriter<'_> {
        progress::LineWriter::new(self.shared.progress, self.step_id)
    }
}

impl<'a> BuildShared<'a> {
    fn context(&self) -> Result<&ContextView, SolveError> {
        let view = self.context.get_or_init(|| {
            let started = std::time::Instant::now();
            let ignore = crate::context::load_ignore(
                self.request.dockerfile_path.as_deref(),
                &self.request.context_dir,
            )
            .map_err(|e| e.to_string())?;
            let view = ContextView::open(&self.request.context_dir, &ignore.patterns)
                .map_err(|e| e.to_string());
            tracing::debug!("context walked in {:.1?}", started.elapsed());
            view
        });
        view.as_ref().map_err(|e| SolveError::Context(e.clone()))
    }

    /// The stat cache of this context (waits for its loading thread the first time).
    pub(crate) fn stat_cache(&self) -> &StatCache {
        self.stat_cache.get_or_init(|| {
            let started = std::time::Instant::now();
            let loader = self
                .stat_loader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let cache = loader.and_then(|h| h.join().ok()).unwrap_or_default();
            tracing::debug!(
                "stat cache: {} records, waited {:.1?} for its loader",
                cache.len(),
                started.elapsed()
            );
            cache
        })
    }

    /// The network of a RUN step on the build's default network (see
    /// [`BuildRequest::default_network`]). The namespace is set up once, by the first step
    /// that asks; where it cannot be (no permission, no nf_tables), steps get loopback only
    /// and the build says why, once.
    pub(crate) fn default_network(&self) -> crate::sandbox::NetworkMode {
        use crate::sandbox::NetworkMode;
        let key = match self.request.default_network.as_str() {
            "none" | "" => return NetworkMode::None,
            "host" => return NetworkMode::Host,
            key => key,
        };
        let joined = self.run_network.get_or_init(|| {
            let name = format!("build-{}", std::process::id());
            let warn = |cause: String| {
                self.progress.event(Event::Warning(format!(
                    "WARNING: default network {key} unavailable, RUN steps get loopback only: {cause}"
                )));
            };
            match crate::net::Transient::join(self.store, key, &name) {
                Ok(t) => match t.attachment().no_outbound.clone() {
                    None => Some(t),
                    Some(cause) => {
                        drop(t);
                        warn(cause);
                        None
                    }
                },
                Err(e) => {
                    warn(e.to_string());
                    None
                }
            }
        });
        match joined {
            Some(t) => NetworkMode::Join(t.netns_path()),
            None => NetworkMode::None,
        }
    }

    fn next_step_id(&self) -> usize {
        let mut n = self.step_counter.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    }
}

/// Builds `request` into `store`: compiles, pulls base configs from the store, solves every
/// stage the target needs, exports and tags the target.
pub fn build(
    store: &Store,
    request: &BuildRequest,
    progress: &dyn Progress,
) -> Result<BuildResult, SolveError> {
    let render = |e: crate::dockerfile::instructions::FrontendError| {
        SolveError::Frontend(e.render(&request.dockerfile, &request.dockerfile_name))
    };
    let first = compile(&request.dockerfile, &request.frontend).map_err(render)?;
    let mut frontend = request.frontend.clone();
    for external in &first.external_images {
        let image = find_image(store, &external.reference).map_err(|_| {
            SolveError::Image(format!(
                "{}: image not found in the local store (pull it or import it first)",
                external.reference
            ))
        })?;
        frontend
            .base_images
            .insert(external.reference.clone(), to_graph_config(&image.config));
    }
    let graph = compile(&request.dockerfile, &frontend).map_err(render)?;
    for w in &graph.warnings {
        progress.event(Event::Warning(
            w.render(&request.dockerfile, &request.dockerfile_name),
        ));
    }
    if let Some(text) =
        crate::dockerfile::scope::unused_build_args_warning(&graph.unused_build_args)
    {
        progress.event(Event::Warning(text));
    }
    let lease = store.lease()?;
    let stat_path = stat_cache_path(store, &request.context_dir);
    let mut shared = BuildShared {
        store,
        request,
        sandbox: Sandbox::new(request.runtime.clone())
            .with_state_dir(store.metadata_dir().join("sandbox")),
        progress,
        context: OnceLock::new(),
        stat_cache: OnceLock::new(),
        stat_loader: Mutex::new(request.remember_context.then(|| {
            let path = stat_path.clone();
            std::thread::spawn(move || StatCache::load(&path))
        })),
        step_counter: Mutex::new(0),
        counts: Mutex::new((0, 0)),
        graph,
        block_cache: matches!(request.compression, LayerCompression::Gzip(_)).then(|| {
            Arc::new(crate::layer::StoreBlockCache::new(store.clone()))
                as Arc<dyn crate::layer::BlockCache>
        }),
        run_network: OnceLock::new(),
    };
    let results = stage::solve_all(&shared)?;
    let target = shared.graph.target;
    let result = results
        .get(&target)
        .ok_or_else(|| SolveError::Internal("the target stage was not built".into()))?;
    let (manifest, id) = export::export(&shared, result)?;
    if let (Some(_), Some(cache)) = (shared.context.get(), shared.stat_cache.get()) {
        if request.remember_context {
            // Best effort: a lost stat cache only costs re-reading files next time.
            let _ = cache.save(&stat_path);
        }
    }
    // A large context's view and stat cache are big trees; freeing them is on nobody's
    // critical path (the command usually exits right after), so it happens aside.
    let context = shared.context.take();
    let stats = shared.stat_cache.take();
    std::thread::spawn(move || drop((context, stats)));
    drop(lease);
    let (cached_steps, executed_steps) = *shared.counts.lock().unwrap_or_else(|e| e.into_inner());
    Ok(BuildResult {
        id,
        manifest,
        cached_steps,
        executed_steps,
    })
}

fn stat_cache_path(store: &Store, context: &Path) -> PathBuf {
    let canonical = context
        .canonicalize()
        .unwrap_or_else(|_| context.to_path_buf());
    let name = Digest::of_bytes(canonical.as_os_str().as_encoded_bytes()).hex();
    store
        .metadata_dir()
        .join("context-stats")
        .join(format!("{name}.json"))
}
