//! The solver's view of a step: an [`Op`] with a cache key and an execution. This module is
//! the one place where Dockerfile steps become ops ([`plan`]); the scheduler in `stage.rs`
//! sees only ops, keys and layers.

use super::copytree::TreeSink;
use super::key::KeyBuilder;
use super::stage::{image_result, merged_tree, StageResult};
use super::{copy, rootfs, run, SolveError, StepContext};
use crate::context::ContextView;
use crate::dockerfile::instructions::{Copy, Instruction, LineRange};
use crate::graph::{HistoryEntry, Source, Stage, Step};
use crate::layer::LayerTree;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use strata_cache::CacheKey;

/// What an op may read besides its own data: the step context and finished stages.
pub struct OpEnv<'a> {
    /// The step's context (store, sandbox, build context, progress).
    pub ctx: &'a StepContext<'a>,
    /// Stages solved so far, by Dockerfile position.
    pub stages: &'a Mutex<BTreeMap<usize, StageResult>>,
}

impl OpEnv<'_> {
    pub(super) fn stage(&self, index: usize) -> Result<StageResult, SolveError> {
        self.stages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .cloned()
            .ok_or_else(|| SolveError::Internal(format!("stage {index} was not built")))
    }
}

/// Named inputs of a key, kept in the cache record for `--explain-cache`.
pub type Inputs = BTreeMap<String, String>;

/// One step as the solver runs it.
pub trait Op: Send + Sync {
    /// Whether the op changes the file system (metadata-only ops never run).
    fn makes_layer(&self) -> bool;
    /// The key of the op's result: `parent` chained with everything the op reads.
    fn cache_key(
        &self,
        env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError>;
    /// Makes the op's changes on top of `lowers`: in `tree` (an empty directory; `scratch` is
    /// a private directory on the same file system), or as layer entries.
    fn exec(
        &self,
        env: &OpEnv<'_>,
        lowers: &[PathBuf],
        scratch: &Path,
        tree: &Path,
    ) -> Result<Output, SolveError>;
}

/// Where an op left its changes.
pub enum Output {
    /// In the `tree` directory; `overlay`: it is an overlay upper dir (whose whiteouts the
    /// layer writer converts).
    Dir {
        /// The directory is an overlay upper dir.
        overlay: bool,
    },
    /// As layer entries whose files are read when the layer is written; the temp dir holding
    /// such files (COPY --from) lives as long as this value.
    Entries(LayerTree, Option<tempfile::TempDir>),
}

/// A step ready to solve: its op and what is shown and recorded about it.
pub struct PlannedStep {
    /// The op.
    pub op: Box<dyn Op>,
    /// The instruction as written (progress, cache record).
    pub text: String,
    /// Its Dockerfile lines (errors).
    pub lines: LineRange,
    /// The history entry it adds.
    pub history: Option<HistoryEntry>,
}

/// The ops of a stage, in order.
pub fn plan(stage: &Stage) -> Vec<PlannedStep> {
    stage
        .steps
        .iter()
        .map(|step| {
            let op: Box<dyn Op> = match &step.command.instruction {
                Instruction::Run(_) if step.run.is_some() => Box::new(RunOp(step.clone())),
                Instruction::Copy(c) => Box::new(CopyOp {
                    step: step.clone(),
                    copy: c.clone(),
                    is_add: false,
                }),
                Instruction::Add(c)
                    if c.sources
                        .iter()
                        .any(|s| super::remote::is_http(s) || super::remote::is_git(s)) =>
                {
                    Box::new(super::remote::AddUrlOp::new(step.clone(), c.clone()))
                }
                Instruction::Add(c) => Box::new(CopyOp {
                    step: step.clone(),
                    copy: c.clone(),
                    is_add: true,
                }),
                _ => match &step.mkdir {
                    Some(dir) => Box::new(MkdirOp {
                        dir: dir.clone(),
                        user: step.user.clone(),
                    }),
                    None => Box::new(MetaOp),
                },
            };
            PlannedStep {
                op,
                text: display_text(step),
                lines: step.command.lines(),
                history: step.history.clone(),
            }
        })
        .collect()
}

/// The step as progress shows it: BuildKit adds a one-line summary of a RUN's heredoc
/// when the heredoc is the whole command (`RUN <<EOF (apt-get update...)`).
fn display_text(step: &Step) -> String {
    let mut text = step.command.code.clone();
    if let Instruction::Run(r) = &step.command.instruction {
        let whole = match &r.command {
            crate::dockerfile::instructions::ShellOrExec::Shell(cmd) => {
                crate::dockerfile::instructions::heredoc_marker(cmd).is_some()
            }
            _ => false,
        };
        if let (true, Some(first)) = (whole, r.heredocs.first()) {
            let doc = first.content.trim();
            let mut lines = doc.split('\n');
            let mut summary = lines
                .next()
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_string();
            if lines.next().is_some() {
                summary.push_str("...");
            }
            text.push_str(&format!(" ({summary})"));
        }
    }
    text
}

fn base_key(kind: &str, parent: &CacheKey, step: &Step) -> (KeyBuilder, Inputs) {
    let mut key = KeyBuilder::new(kind, Some(parent));
    key.field("instruction", step.command.code.as_bytes());
    let used: Vec<String> = step
        .used_args
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    key.list("used-args", &used);
    let mut inputs = Inputs::new();
    inputs.insert("instruction".into(), step.command.code.clone());
    inputs.insert("build-args".into(), used.join("\n"));
    (key, inputs)
}

/// ENV, LABEL, CMD...: config only; the config is assembled from the graph at export.
struct MetaOp;

impl Op for MetaOp {
    fn makes_layer(&self) -> bool {
        false
    }
    fn cache_key(
        &self,
        _env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError> {
        // Metadata does not change the file system: later steps chain from the same key.
        Ok((*parent, Inputs::new()))
    }
    fn exec(&self, _: &OpEnv<'_>, _: &[PathBuf], _: &Path, _: &Path) -> Result<Output, SolveError> {
        Ok(Output::Dir { overlay: false })
    }
}

/// RUN: the process in the sandbox on an overlay of the layers.
struct RunOp(Step);

impl Op for RunOp {
    fn makes_layer(&self) -> bool {
        true
    }
    fn cache_key(
        &self,
        env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError> {
        let step = &self.0;
        let (mut key, mut inputs) = base_key("run", parent, step);
        if let Some(plan) = &step.run {
            key.list("args", &plan.args);
            let mounts: Vec<String> = plan
                .mounts
                .iter()
                .map(|(m, s)| format!("{m:?} {s:?}"))
                .collect();
            key.list("mounts", &mounts);
            let inline: Vec<String> = plan
                .inline_files
                .iter()
                .map(|(name, data)| format!("{name}\0{data}"))
                .collect();
            key.list("inline-files", &inline);
            let sources = super::mounts::source_digests(env, plan)?;
            if !sources.is_empty() {
                inputs.insert("mount-sources".into(), sources.join("\n"));
            }
            key.list("mount-sources", &sources);
        }
        // The build-wide --network changes what a RUN may do (BuildKit keys the exec's
        // network mode); RUN --network is part of the instruction already.
        let network = &env.ctx.shared.request.network;
        if *network != crate::sandbox::NetworkMode::Default {
            key.field("network", format!("{network:?}").as_bytes());
        }
        let env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        key.list("env", &env)
            .field("user", step.user.as_bytes())
            .field("workdir", step.workdir.as_bytes());
        inputs.insert("env".into(), env.join("\n"));
        inputs.insert("user".into(), step.user.clone());
        inputs.insert("workdir".into(), step.workdir.clone());
        Ok((key.finish(), inputs))
    }
    fn exec(
        &self,
        env: &OpEnv<'_>,
        lowers: &[PathBuf],
        scratch: &Path,
        tree: &Path,
    ) -> Result<Output, SolveError> {
        run::run_step(env, &self.0, lowers, tree, scratch)?;
        Ok(Output::Dir { overlay: true })
    }
}

/// COPY and ADD, from the context or from a stage or image.
struct CopyOp {
    step: Step,
    copy: Copy,
    is_add: bool,
}

impl Op for CopyOp {
    fn makes_layer(&self) -> bool {
        true
    }
    fn cache_key(
        &self,
        env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError> {
        let step = &self.step;
        let (mut key, mut inputs) =
            base_key(if self.is_add { "add" } else { "copy" }, parent, step);
        key.field("workdir", step.workdir.as_bytes());
        let digest = match &step.source {
            Some(Source::Context) | None => {
                let view = env.ctx.shared.context()?;
                let stat_cache = env.ctx.shared.stat_cache();
                let started = std::time::Instant::now();
                let digest = copy::source_digest(&self.copy, view, stat_cache)?;
                tracing::debug!("COPY sources hashed in {:.1?}", started.elapsed());
                digest
            }
            Some(Source::Stage(i)) => env.stage(*i)?.key.digest().to_string(),
            Some(Source::Image(r)) => image_result(env.ctx.shared.store, r)?
                .key
                .digest()
                .to_string(),
            Some(Source::Scratch) => "scratch".into(),
        };
        let contents: Vec<String> = self
            .copy
            .contents
            .iter()
            .map(|s| format!("{}\0{}", s.path, s.data))
            .collect();
        key.field("sources", digest.as_bytes())
            .list("heredocs", &contents)
            .list("exclude", &self.copy.exclude)
            .field("parents", if self.copy.parents { b"1" } else { b"0" });
        inputs.insert("sources".into(), digest);
        Ok((key.finish(), inputs))
    }
    fn exec(
        &self,
        env: &OpEnv<'_>,
        lowers: &[PathBuf],
        _scratch: &Path,
        tree: &Path,
    ) -> Result<Output, SolveError> {
        let step = &self.step;
        let (view, keep) = match &step.source {
            Some(Source::Context) | None => (None, None),
            Some(source) => {
                let layers = match source {
                    Source::Stage(i) => env.stage(*i)?.layers,
                    Source::Image(r) => image_result(env.ctx.shared.store, r)?.layers,
                    _ => vec![],
                };
                let merged = merged_tree(env.ctx.shared.store, &layers)?;
                let view = ContextView::open(&merged.path().join("root"), &[] as &[&str])
                    .map_err(SolveError::context)?;
                (Some(view), Some(merged))
            }
        };
        let from_context = view.is_none();
        let view = match &view {
            Some(v) => v,
            None => env.ctx.shared.context()?,
        };
        let mut own = copy::Ownership::of(&self.copy, from_context, lowers)?;
        if from_context && env.ctx.shared.request.context_keeps_capabilities {
            own.keep_caps = true;
        }
        if copy::needs_staging(&self.copy, self.is_add, view)? {
            let mut sink = copy::Staging {
                root: tree,
                lowers,
                own,
            };
            copy::copy_into(
                &self.copy,
                self.is_add,
                view,
                &step.workdir,
                lowers,
                &mut sink,
            )?;
            return Ok(Output::Dir { overlay: false });
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut sink = TreeSink::new(lowers, own, now);
        copy::copy_into(
            &self.copy,
            self.is_add,
            view,
            &step.workdir,
            lowers,
            &mut sink,
        )?;
        Ok(Output::Entries(sink.finish(), keep))
    }
}

/// WORKDIR: creates the directory (owned by USER) when the image lacks it.
struct MkdirOp {
    dir: String,
    user: String,
}

impl Op for MkdirOp {
    fn makes_layer(&self) -> bool {
        true
    }
    fn cache_key(
        &self,
        _env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError> {
        let mut key = KeyBuilder::new("mkdir", Some(parent));
        key.field("dir", self.dir.as_bytes())
            .field("user", self.user.as_bytes());
        let inputs = Inputs::from([("instruction".to_string(), format!("WORKDIR {}", self.dir))]);
        Ok((key.finish(), inputs))
    }
    fn exec(
        &self,
        _env: &OpEnv<'_>,
        lowers: &[PathBuf],
        _scratch: &Path,
        tree: &Path,
    ) -> Result<Output, SolveError> {
        // BuildKit's mkdir resolves the path inside the image: `WORKDIR /app` with
        // `/app -> /opt/app` makes /opt/app.
        let dir = super::scoped::resolve(lowers, &self.dir)?;
        if rootfs::find(lowers, &dir).is_none() {
            let owner = rootfs::resolve_user(lowers, &self.user)?;
            super::scoped::mkdir_all(tree, lowers, &dir, (owner.0, owner.1))?;
        }
        Ok(Output::Dir { overlay: false })
    }
}
