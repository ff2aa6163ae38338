//! `strata diff CONTAINER`: what the container changed in its image's file system, as
//! docker's A/C/D lines.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::io::Write;
use std::process::ExitCode;
use strata_builder::container::diff::diff;
use strata_builder::container::ContainerStore;

/// Arguments of `strata diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container (name, ID or ID prefix)
    container: String,
}

pub fn run(global: &Global, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    let changes = diff(&containers, &args.container)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for change in changes {
        writeln!(out, "{change}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
