//! `strata inspect IMAGE...`: docker's `image inspect` JSON array.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
use clap::Args;
use std::process::ExitCode;
use strata_builder::image::{find_image, inspect_json};

/// Arguments of `strata inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Only `image` objects exist so far
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Images (names or IDs)
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

pub fn run(global: &Global, args: InspectArgs) -> anyhow::Result<ExitCode> {
    if let Some(kind) = &args.kind {
        anyhow::ensure!(
            kind == "image",
            "unsupported --type {kind:?}: only image objects exist"
        );
    }
    let store = open_store(global)?;
    let mut out = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match find_image(&store, name) {
            Ok(image) => out.push(inspect_json(&image)),
            Err(err) => {
                eprintln!("Error: {}", error_chain(&err.into()));
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
