//! `strata build`: a Dockerfile and a context into an image; `--check` only parses and lints.

use super::open_store;
use crate::cli::{Global, Progress as ProgressMode};
use crate::progress::{Display, Outcome};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata_builder::context::StdinContext;
use strata_builder::dockerfile::scope::{FrontendOptions, Platform};
use strata_builder::graph;
use strata_builder::layer::LayerCompression;
use strata_builder::sandbox::Runtime;
use strata_builder::solver::{self, BuildRequest};
use strata_registry::Reference;

/// Arguments of `strata build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Parse and lint the Dockerfile without building (exit 1 on an error or a warning)
    #[arg(long)]
    check: bool,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Do not cache the steps of these stages (names or indexes)
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Say for each step that misses the cache which of its inputs changed
    #[arg(long)]
    explain_cache: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Set target platform for build (only this machine's platform)
    #[arg(long)]
    platform: Option<String>,
    /// Layer compression
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    compression: CompressionArg,
    /// Compression level (gzip 0-9, zstd 1-22)
    #[arg(long, value_name = "N")]
    compression_level: Option<i32>,
    /// Compression threads (0: every core); the layers are the same bytes whatever the count
    #[arg(long, default_value_t = 0, value_name = "N")]
    compression_threads: usize,
    /// OCI runtime for RUN: embedded (default), runc, crun or a path
    #[arg(long, default_value = "embedded")]
    runtime: String,
    /// Secret to expose to RUN --mount=type=secret: id=ID,src=FILE
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    secrets: Vec<String>,
    /// Network of RUN steps without RUN --network: default (the bridge network, one namespace per build), none, host
    #[arg(long, value_enum, default_value_t = NetworkArg::Default)]
    network: NetworkArg,
    /// Memory limit of each RUN step (e.g. 512m)
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota of RUN steps
    #[arg(long)]
    cpu_quota: Option<i64>,
    /// Limit the CPU CFS period of RUN steps
    #[arg(long)]
    cpu_period: Option<u64>,
    /// Number of CPUs of RUN steps
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight) of RUN steps
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// Ulimit options of RUN steps (NAME=SOFT[:HARD])
    #[arg(long = "ulimit")]
    ulimits: Vec<String>,
    /// Output destination: type=oci|docker,dest=FILE, type=tar,dest=FILE, type=local,dest=DIR
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,dest=PATH")]
    outputs: Vec<String>,
    /// Push the tagged image(s) to their registries after a successful build
    #[arg(long)]
    push: bool,
    /// Always ask the registry for a newer version of the images the build starts from
    #[arg(long)]
    pull: bool,
    #[command(flatten)]
    registry: super::pull::RegistryArgs,
    /// The build context directory; - reads a tar of it (or only a Dockerfile) from stdin
    #[arg(default_value = ".")]
    context: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NetworkArg {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    Gzip,
    Zstd,
    None,
}

/// The Dockerfile of a build: its name in messages, its text, and its path (for
/// `FILE.dockerignore`; none when read from stdin).
pub struct Dockerfile {
    name: String,
    text: String,
    path: Option<PathBuf>,
}

/// Reads the Dockerfile with docker's rules: `-f -` is stdin; `-f FILE` is relative to the
/// current directory, or to the archive's root for a context from stdin (`in_archive`);
/// without `-f`, CONTEXT/Dockerfile, else CONTEXT/dockerfile.
pub fn read_dockerfile(
    file: Option<&Path>,
    context: &Path,
    in_archive: bool,
) -> anyhow::Result<Dockerfile> {
    let path = match file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            return Ok(Dockerfile {
                name: "Dockerfile".into(),
                text,
                path: None,
            });
        }
        Some(path) if in_archive => {
            let rel = strata_builder::context::clean_source(&path.to_string_lossy()).path;
            context.join(rel.trim_start_matches('/'))
        }
        Some(path) => path.to_path_buf(),
        None => {
            let upper = context.join("Dockerfile");
            let lower = context.join("dockerfile");
            if !upper.exists() && lower.exists() {
                lower
            } else {
                upper
            }
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let shown = match file {
                Some(f) => f.display().to_string(),
                None => "Dockerfile".into(),
            };
            bail!("Cannot locate specified Dockerfile: {shown}")
        }
        Err(e) => return Err(e).with_context(|| format!("reading Dockerfile {}", path.display())),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Dockerfile {
        name: name.unwrap_or_else(|| "Dockerfile".into()),
        text,
        path: Some(path),
    })
}

/// The context of a build: a directory, or what `-` brought on stdin unpacked into a
/// temporary directory (removed when this is dropped).
struct BuildContext {
    dir: PathBuf,
    dockerfile: Dockerfile,
    _tmp: Option<tempfile::TempDir>,
}

fn build_context(args: &BuildArgs, tmp_parent: Option<&Path>) -> anyhow::Result<BuildContext> {
    if args.context.as_os_str() != "-" {
        anyhow::ensure!(
            args.context.is_dir(),
            "unable to prepare context: path {:?} not found",
            args.context
        );
        let dockerfile = read_dockerfile(args.file.as_deref(), &args.context, false)?;
        return Ok(BuildContext {
            dir: args.context.clone(),
            dockerfile,
            _tmp: None,
        });
    }
    if args.file.as_deref().is_some_and(|f| f.as_os_str() == "-") {
        bail!("invalid argument: can't use stdin for both build context and dockerfile");
    }
    let tmp = match tmp_parent {
        Some(parent) => {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            tempfile::Builder::new()
                .prefix("stdin-context-")
                .tempdir_in(parent)?
        }
        None => tempfile::tempdir()?,
    };
    let dir = tmp.path().to_path_buf();
    let got = strata_builder::context::read_stdin_context(std::io::stdin().lock(), &dir)
        .context("reading the build context from stdin")?;
    let dockerfile = match got {
        StdinContext::Archive => read_dockerfile(args.file.as_deref(), &dir, true)?,
        StdinContext::Dockerfile(text) => {
            // docker: a Dockerfile on stdin, and no context at all.
            anyhow::ensure!(
                args.file.is_none(),
                "the build context on stdin is not an archive, so -f cannot name a file in it"
            );
            Dockerfile {
                name: "Dockerfile".into(),
                text,
                path: None,
            }
        }
    };
    Ok(BuildContext {
        dir,
        dockerfile,
        _tmp: Some(tmp),
    })
}

/// `KEY=VALUE` pairs; `NAME` alone takes the value from the environment, as docker does.
fn parse_pairs(
    raw: &[String],
    what: &str,
    from_env: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for arg in raw {
        match arg.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                out.insert(name.to_string(), value.to_string());
            }
            Some(_) => bail!("invalid {what} {arg:?}: the name is empty"),
            None if from_env => {
                if let Ok(value) = std::env::var(arg) {
                    out.insert(arg.clone(), value);
                }
            }
            None => {
                out.insert(arg.clone(), String::new());
            }
        }
    }
    Ok(out)
}

/// The front end's options for this machine: host platform, proxy variables from the env.
pub fn frontend_options(
    build_args: BTreeMap<String, String>,
    target: Option<String>,
) -> FrontendOptions {
    let host = strata_builder::image::host_platform();
    let proxy_env = strata_builder::dockerfile::scope::PROXY_ARGS
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v)))
        .collect();
    FrontendOptions {
        build_args,
        target,
        build_platform: Platform::new(&host.os, &host.architecture, ""),
        proxy_env,
        ..Default::default()
    }
}

fn parse_secrets(raw: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for spec in raw {
        let mut id = None;
        let mut src = None;
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("type", "file")) => {}
                _ => bail!("invalid --secret {spec:?}: expected id=ID,src=FILE"),
            }
        }
        let id = id.with_context(|| format!("invalid --secret {spec:?}: no id"))?;
        let src = src.unwrap_or_else(|| PathBuf::from(&id));
        anyhow::ensure!(
            src.is_file(),
            "secret {id}: {} is not a file",
            src.display()
        );
        out.insert(id, src);
    }
    Ok(out)
}

pub fn run(global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    // A context from stdin is unpacked in the store's tmp dir (garbage `system check` removes
    // if the build is killed); `--check` needs no store.
    let store = if args.check {
        None
    } else {
        Some(open_store(global)?)
    };
    let context = build_context(&args, store.as_ref().map(|s| s.tmp_dir()).as_deref())?;
    let name = context.dockerfile.name.clone();
    let source = context.dockerfile.text.clone();
    let build_args = parse_pairs(&args.build_args, "--build-arg", true)?;
    if args.check {
        let mut opts = frontend_options(build_args, args.target.clone());
        opts.all_stages = args.target.is_none();
        let report = graph::check(&source, &name, &opts);
        let text = report.render(&source);
        eprint!("{text}");
        if report.failed() {
            return Ok(ExitCode::FAILURE);
        }
        println!("Check complete, no warnings found.");
        return Ok(ExitCode::SUCCESS);
    }
    let tags = args
        .tags
        .iter()
        .map(|t| Reference::parse(t).map(|r| r.with_default_tag().to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let host = strata_builder::image::host_platform();
    if let Some(platform) = &args.platform {
        let wanted = format!("{}/{}", host.os, host.architecture);
        anyhow::ensure!(
            *platform == wanted,
            "platform {platform} is not supported: only {wanted} can be built here"
        );
    }
    let source_date_epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .map(|v| {
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))
        })
        .transpose()?;
    let compression = match (args.compression, args.compression_level) {
        (CompressionArg::Gzip, level) => {
            LayerCompression::Gzip(level.unwrap_or(6).clamp(0, 9) as u32)
        }
        (CompressionArg::Zstd, level) => LayerCompression::Zstd(level.unwrap_or(3).clamp(1, 22)),
        (CompressionArg::None, _) => LayerCompression::None,
    };
    let request = BuildRequest {
        dockerfile: source,
        dockerfile_name: name,
        dockerfile_path: context.dockerfile.path.clone(),
        context_dir: context.dir.clone(),
        remember_context: context._tmp.is_none(),
        context_keeps_capabilities: context._tmp.is_some(),
        frontend: frontend_options(build_args, args.target.clone()),
        tags,
        labels: parse_pairs(&args.labels, "--label", false)?,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        explain_cache: args.explain_cache,
        compression,
        compression_threads: args.compression_threads,
        source_date_epoch,
        runtime: Runtime::from_arg(&args.runtime)?,
        secrets: parse_secrets(&args.secrets)?,
        network: match args.network {
            NetworkArg::Default => strata_builder::sandbox::NetworkMode::Default,
            NetworkArg::None => strata_builder::sandbox::NetworkMode::None,
            NetworkArg::Host => strata_builder::sandbox::NetworkMode::Host,
        },
        // As `strata run`: the default bridge unless $STRATA_DEFAULT_NETWORK names another.
        default_network: strata_builder::container::create::default_network(),
        limits: strata_builder::sandbox::Limits {
            resources: crate::commands::resources::parse(
                args.memory.as_deref(),
                args.memory_swap.as_deref(),
                args.cpus.as_deref(),
                args.cpu_quota,
                args.cpu_period,
                args.cpu_shares,
                None,
            )?,
            ulimits: args
                .ulimits
                .iter()
                .map(|u| strata_builder::sandbox::Ulimit::parse(u))
                .collect::<Result<_, _>>()?,
        },
        cancel: strata_builder::sandbox::CancelToken::new(),
    };
    let outputs = args
        .outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = store.context("no store")?;
    let quiet = args.quiet || global.progress == ProgressMode::Quiet;
    // FROM images missing from the store are pulled first (the builder never talks to
    // registries).
    let transfers = crate::transfers::Transfers::new(global.progress, quiet).on_stderr();
    super::pull::pull_build_images(&store, &args.registry, &request, args.pull, &transfers)?;
    let display = std::sync::Arc::new(Display::new(global.progress, quiet));
    // Ctrl-C cancels cleanly: the running step is killed and temp dirs are removed; a second
    // Ctrl-C exits at once. The notice goes through the display (a JSON object in json mode,
    // below the last frame on a terminal).
    let cancel = request.cancel.clone();
    let notices = std::sync::Arc::clone(&display);
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            std::process::exit(130);
        }
        solver::Progress::event(
            &*notices,
            solver::Event::Warning("cancelling the build...".into()),
        );
        cancel.cancel();
    });
    let built = solver::build(&store, &request, display.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(|result| {
            for spec in &outputs {
                write_output(&store, &result, spec)?;
            }
            if let Some(path) = &args.iidfile {
                std::fs::write(path, result.id.to_string())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(result)
        });
    let result = match built {
        Ok(result) => {
            let id = result.id.to_string();
            display.finish(Outcome::Built {
                id: &id,
                tags: &request.tags,
            });
            result
        }
        Err(err) => {
            display.finish(Outcome::Failed(&crate::output::error_chain(&err)));
            return Err(err);
        }
    };
    if args.push {
        super::push::push_tags(&store, &args.registry, &request.tags, &transfers)?;
    }
    if quiet {
        println!("{}", result.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// One `-o` destination.
#[derive(Debug)]
struct OutputSpec {
    kind: String,
    dest: PathBuf,
}

fn parse_output(spec: &str) -> anyhow::Result<OutputSpec> {
    let mut kind = None;
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            // docker's shorthand: `-o DIR` means type=local,dest=DIR.
            None if !spec.contains('=') => {
                kind = Some("local".into());
                dest = Some(PathBuf::from(part));
            }
            _ => bail!("invalid --output {spec:?}: expected type=TYPE,dest=PATH"),
        }
    }
    let kind = kind.with_context(|| format!("invalid --output {spec:?}: no type"))?;
    anyhow::ensure!(
        matches!(kind.as_str(), "oci" | "docker" | "tar" | "local"),
        "invalid --output {spec:?}: type must be oci, docker, tar or local"
    );
    let dest = dest.with_context(|| format!("invalid --output {spec:?}: no dest"))?;
    Ok(OutputSpec { kind, dest })
}

fn write_output(
    store: &strata_cache::Store,
    result: &solver::BuildResult,
    spec: &OutputSpec,
) -> anyhow::Result<()> {
    use strata_builder::image::archive::{save_archive, ArchiveFormat, SaveItem};
    let entry = store
        .images()?
        .into_iter()
        .find(|e| e.digest() == &result.manifest.digest)
        .context("the built image is not in the store")?;
    let image = strata_builder::image::Image::load(store, entry)?;
    let names = image
        .references()
        .into_iter()
        .filter(|r| r.digest().is_none())
        .collect();
    let write_file = |f: &dyn Fn(&mut std::io::BufWriter<std::fs::File>) -> anyhow::Result<()>| -> anyhow::Result<()> {
        let file = std::fs::File::create(&spec.dest).with_context(|| format!("creating {}", spec.dest.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        f(&mut out)?;
        std::io::Write::flush(&mut out)?;
        Ok(())
    };
    match spec.kind.as_str() {
        "oci" | "docker" => {
            let format = if spec.kind == "oci" {
                ArchiveFormat::Oci
            } else {
                ArchiveFormat::Docker
            };
            let items = [SaveItem { image, names }];
            write_file(&|out| Ok(save_archive(store, &items, format, out)?))
        }
        "local" => {
            std::fs::create_dir_all(&spec.dest)
                .with_context(|| format!("creating {}", spec.dest.display()))?;
            Ok(strata_builder::image::export_rootfs_dir(
                store, &image, &spec.dest,
            )?)
        }
        _ => write_file(&|out| {
            Ok(strata_builder::image::export_rootfs_tar(
                store, &image, out,
            )?)
        }),
    }
}
