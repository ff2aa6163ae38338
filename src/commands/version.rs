//! `strata version [--format json|TEMPLATE]`: docker's client block (version, git commit,
//! compiler, build time, OS/Arch) and the OCI runtimes strata can use on this host.

use crate::template::Template;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::image::host_platform;

/// Arguments of `strata version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// `json`, or a Go-like template over the JSON fields ({{.Version}}, {{.GitCommit}},
    /// {{.RustVersion}}, {{.BuildTime}}, {{.Os}}, {{.Arch}}, {{.DefaultRuntime}}, {{json .Runtimes}})
    #[arg(short, long, value_name = "FORMAT")]
    format: Option<String>,
}

/// An OCI runtime found on this host.
pub struct RuntimeInfo {
    /// `embedded`, `runc`, `crun`.
    pub name: String,
    /// Its version (the embedded one is strata's).
    pub version: String,
    /// Where it is (None for the embedded runtime).
    pub path: Option<PathBuf>,
}

/// The runtime `build` uses without `--runtime`.
pub const DEFAULT_RUNTIME: &str = "embedded";

/// The embedded runtime and the external ones (`runc`, `crun`) in `PATH`, with the version
/// each reports.
pub fn runtimes() -> Vec<RuntimeInfo> {
    let mut found = vec![RuntimeInfo {
        name: "embedded".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        path: None,
    }];
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["runc", "crun"] {
        let Some(bin) = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
        else {
            continue;
        };
        // `runc --version` starts "runc version 1.1.5", crun "crun version 1.8.1".
        let version = std::process::Command::new(&bin)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let first = text.lines().next()?.to_string();
                Some(match first.split_once(" version ") {
                    Some((_, v)) => v.trim().to_string(),
                    None => first.trim().to_string(),
                })
            })
            .unwrap_or_else(|| "unknown".into());
        found.push(RuntimeInfo {
            name: name.into(),
            version,
            path: Some(bin),
        });
    }
    found
}

fn build_time() -> Option<DateTime<Utc>> {
    env!("STRATA_BUILD_TIME")
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// The JSON document `--format` works on.
pub fn version_json() -> Value {
    let platform = host_platform();
    let runtimes: Vec<Value> = runtimes()
        .iter()
        .map(|r| {
            json!({
                "Name": r.name,
                "Version": r.version,
                "Path": r.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "GitCommit": env!("STRATA_GIT_COMMIT"),
        "RustVersion": env!("STRATA_RUSTC_VERSION"),
        "BuildTime": build_time().map(|t| t.to_rfc3339()).unwrap_or_default(),
        "Os": platform.os,
        "Arch": platform.architecture,
        "DefaultRuntime": DEFAULT_RUNTIME,
        "Runtimes": runtimes,
    })
}

pub fn run(args: VersionArgs) -> anyhow::Result<ExitCode> {
    let doc = version_json();
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string(&doc)?),
        Some(t) => println!("{}", Template::parse(t)?.render(&doc)?),
        None => {
            let field = |k: &str| doc[k].as_str().unwrap_or_default().to_string();
            // docker prints Go's time.ANSIC.
            let built = build_time()
                .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
                .unwrap_or_else(|| "unknown".into());
            println!("Client:");
            println!(" {:<19}{}", "Version:", field("Version"));
            println!(" {:<19}{}", "Git commit:", field("GitCommit"));
            println!(" {:<19}{}", "Rust version:", field("RustVersion"));
            println!(" {:<19}{}", "Built:", built);
            println!(" {:<19}{}/{}", "OS/Arch:", field("Os"), field("Arch"));
            println!();
            println!("Runtimes:");
            for r in runtimes() {
                let mut line = r.version.clone();
                if let Some(p) = &r.path {
                    line.push_str(&format!(" ({})", p.display()));
                }
                if r.name == DEFAULT_RUNTIME {
                    line.push_str(" (default)");
                }
                println!(" {:<19}{}", format!("{}:", r.name), line);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
