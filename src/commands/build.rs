//! `strata build`: for now `--check`, which parses and lints a Dockerfile without building.

use crate::cli::Global;
use anyhow::{bail, Context};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata_builder::dockerfile::scope::{FrontendOptions, Platform};
use strata_builder::graph;

/// Arguments of `strata build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Parse and lint the Dockerfile without building (exit 1 on an error or a warning)
    #[arg(long, required = true)]
    check: bool,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// The build context directory
    #[arg(default_value = ".")]
    context: PathBuf,
}

/// Reads the Dockerfile named by `-f` (or CONTEXT/Dockerfile); returns its display name too.
pub fn read_dockerfile(file: Option<&Path>, context: &Path) -> anyhow::Result<(String, String)> {
    match file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            Ok(("Dockerfile".into(), text))
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading Dockerfile {}", path.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            Ok((name.unwrap_or_else(|| "Dockerfile".into()), text))
        }
        None => {
            let path = context.join("Dockerfile");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading Dockerfile {}", path.display()))?;
            Ok(("Dockerfile".into(), text))
        }
    }
}

/// `--build-arg` values; `NAME` alone takes the value from the environment, as docker does.
pub fn parse_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for arg in raw {
        match arg.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                args.insert(name.to_string(), value.to_string());
            }
            Some(_) => bail!("invalid --build-arg {arg:?}: the name is empty"),
            None => {
                if let Ok(value) = std::env::var(arg) {
                    args.insert(arg.clone(), value);
                }
            }
        }
    }
    Ok(args)
}

/// The front end's options for this machine: host platform, proxy variables from the env.
pub fn frontend_options(
    build_args: BTreeMap<String, String>,
    target: Option<String>,
) -> FrontendOptions {
    let host = strata_builder::image::host_platform();
    let proxy_env = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
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

pub fn run(_global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let (name, source) = read_dockerfile(args.file.as_deref(), &args.context)?;
    let mut opts = frontend_options(parse_build_args(&args.build_args)?, args.target.clone());
    opts.all_stages = args.target.is_none();
    let report = graph::check(&source, &name, &opts);
    let text = report.render(&source);
    if report.failed() {
        eprint!("{text}");
        return Ok(ExitCode::FAILURE);
    }
    if !text.is_empty() {
        eprint!("{text}");
    }
    println!("Check complete, no warnings found.");
    let _ = args.check;
    Ok(ExitCode::SUCCESS)
}
