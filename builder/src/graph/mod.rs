//! The build graph: a Dockerfile compiled into stages of expanded steps with the
//! dependencies between stages, the way BuildKit's `dockerfile2llb` resolves them.
//!
//! [`compile`] is the entry point for a build and [`check`] the one for `build --check`.
//! Both are pure: base image configs, build args and platforms come in through
//! [`FrontendOptions`]. A solver typically compiles once, pulls the configs of
//! [`BuildGraph::external_images`], then compiles again with them in
//! [`FrontendOptions::base_images`] so that inherited ENV, WORKDIR, SHELL and ONBUILD
//! triggers are taken into account.

mod build;
mod check;
mod dispatch;
mod onbuild;
mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use crate::dockerfile::lint::LintWarning;
pub use crate::dockerfile::scope::{FrontendOptions, Platform};
pub use build::compile;
pub use check::{check, CheckReport};
pub use onbuild::onbuild_commands;

use crate::dockerfile::instructions::{Command, Healthcheck, LineRange, Mount};

/// The parts of an image config the front end reads and writes (OCI `config` plus the
/// platform and history), as plain values; the caller converts from and to its own types.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageConfig {
    /// `os`.
    pub os: String,
    /// `architecture`.
    pub architecture: String,
    /// `variant`.
    pub variant: String,
    /// `author` (MAINTAINER).
    pub author: String,
    /// `config.User`.
    pub user: String,
    /// `config.Env`, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `config.WorkingDir`.
    pub working_dir: String,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `config.ExposedPorts` keys (`80/tcp`).
    pub exposed_ports: BTreeSet<String>,
    /// `config.Volumes` keys.
    pub volumes: BTreeSet<String>,
    /// `config.StopSignal`.
    pub stop_signal: String,
    /// `config.Healthcheck`.
    pub healthcheck: Option<Healthcheck>,
    /// `config.Shell`.
    pub shell: Vec<String>,
    /// `config.OnBuild`.
    pub on_build: Vec<String>,
    /// `config.ArgsEscaped` (set by CMD).
    pub args_escaped: bool,
    /// History entries added by the Dockerfile (the base image's own are not repeated).
    pub history: Vec<HistoryEntry>,
}

impl ImageConfig {
    /// The value of `key` in `env`.
    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k == key).then_some(v)
        })
    }

    /// Sets `key` in `env`, replacing the first entry of that name in place (BuildKit's
    /// `addEnv`).
    pub fn env_set(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        for e in self.env.iter_mut() {
            let k = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            if k == key {
                *e = entry;
                return;
            }
        }
        self.env.push(entry);
    }
}

/// One history entry, as BuildKit writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// `created_by`, e.g. `RUN /bin/sh -c make # buildkit`.
    pub created_by: String,
    /// No layer was produced.
    pub empty_layer: bool,
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An earlier stage (index into [`BuildGraph::stages`] by Dockerfile position).
    Stage(usize),
    /// An image reference as written after expansion.
    Image(String),
}

/// What a COPY --from or a RUN --mount reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The build context.
    Context,
    /// An empty filesystem.
    Scratch,
    /// A stage (Dockerfile position).
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// An external image the build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalImage {
    /// The reference as written after expansion.
    pub reference: String,
    /// The platform to pull.
    pub platform: Platform,
    /// Used as a stage's base (its config matters), not only as a file source.
    pub is_base: bool,
    /// Stages (Dockerfile positions) that use it.
    pub used_by: Vec<usize>,
}

/// What a RUN executes, once the shell and heredocs are applied (BuildKit's `dispatchRun`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// The process arguments.
    pub args: Vec<String>,
    /// Files to provide read-only under `/dev/pipes/` (a heredoc script with a shebang):
    /// `(name, content)`, mode 0755.
    pub inline_files: Vec<(String, String)>,
    /// The mounts, expanded and validated, with their sources resolved.
    pub mounts: Vec<(Mount, Source)>,
    /// Proxy variables given to the process without being part of the history or of the
    /// Dockerfile's variables.
    pub proxy_env: Vec<(String, String)>,
}

/// One instruction of a stage, expanded, with the state it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction with its words expanded (COPY sources, ENV values, ...); RUN, CMD
    /// and ENTRYPOINT commands stay as written.
    pub command: Command,
    /// The step came from an ONBUILD trigger of the base.
    pub onbuild: bool,
    /// The stage's variables when the step runs (what a RUN sees), in order.
    pub env: Vec<(String, String)>,
    /// The working directory when the step runs (after it, for WORKDIR).
    pub workdir: String,
    /// The user when the step runs.
    pub user: String,
    /// The ARGs in scope with their values (a RUN's history shows them as `|N K=V`).
    pub build_args: Vec<(String, Option<String>)>,
    /// Build-arg values this step depends on: the variables its expansion used that are
    /// ARGs, or for a RUN every ARG in scope (they are in its environment).
    pub used_args: Vec<(String, String)>,
    /// For COPY/ADD: where the sources are read from.
    pub source: Option<Source>,
    /// For RUN: what to execute.
    pub run: Option<RunPlan>,
    /// For WORKDIR: the directory to create (none for `/`).
    pub mkdir: Option<String>,
    /// The history entry the step adds (ONBUILD adds none).
    pub history: Option<HistoryEntry>,
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the Dockerfile (what `COPY --from=N` counts).
    pub index: usize,
    /// The AS name, lower-cased.
    pub name: Option<String>,
    /// The name or `stage-N`.
    pub display_name: String,
    /// Where it starts from.
    pub base: Base,
    /// The platform it is built for.
    pub platform: Platform,
    /// The FROM instruction's lines.
    pub location: LineRange,
    /// The global ARGs (and predefined ones) the FROM line's image and platform used, with
    /// their values: they decide which base is pulled.
    pub from_args: Vec<(String, String)>,
    /// The steps, ONBUILD triggers first.
    pub steps: Vec<Step>,
    /// The image config after the last step.
    pub config: ImageConfig,
    /// Stages (Dockerfile positions) it needs, base included, sorted.
    pub depends_on: Vec<usize>,
    /// The base's config was known (given in the options, or a stage, or scratch).
    pub base_config_known: bool,
}

/// A compiled Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildGraph {
    /// The stages in the graph (those the target reaches, or all with `all_stages`), in
    /// Dockerfile order.
    pub stages: Vec<Stage>,
    /// Dockerfile position of the target stage.
    pub target: usize,
    /// External images referenced by the stages in the graph, in order of first use.
    pub external_images: Vec<ExternalImage>,
    /// Lint warnings, sorted by line.
    pub warnings: Vec<LintWarning>,
    /// `--build-arg` names nothing declared (see
    /// [`unused_build_args_warning`](crate::dockerfile::scope::unused_build_args_warning)).
    pub unused_build_args: Vec<String>,
    /// The escape character of the file.
    pub escape: char,
}

impl BuildGraph {
    /// The stage at Dockerfile position `index`, if it is in the graph.
    pub fn stage(&self, index: usize) -> Option<&Stage> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// The stage named `name` (case-insensitive; the last one of that name).
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// The target stage.
    pub fn target_stage(&self) -> &Stage {
        self.stage(self.target)
            .unwrap_or_else(|| &self.stages[self.stages.len() - 1])
    }

    /// The stages grouped in levels: each level's stages depend only on earlier levels,
    /// so the stages of one level can be built at the same time. Dockerfile positions.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        // Stages only depend on earlier positions, so one pass in order suffices.
        for s in &self.stages {
            let l = s
                .depends_on
                .iter()
                .filter_map(|d| level.get(d))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(s.index, l);
        }
        let depth = level.values().max().map_or(0, |m| m + 1);
        let mut out = vec![Vec::new(); depth];
        for (idx, l) in level {
            out[l].push(idx);
        }
        out
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    crate::dockerfile::instructions::values::format_go_duration(d)
}
