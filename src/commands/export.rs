//! `strata export [-o FILE] CONTAINER`: the container's file system as one tar.

use super::open_store;
use crate::cli::Global;
use crate::output::write_archive;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::container::export::export;
use strata_builder::container::ContainerStore;

/// Arguments of `strata export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container (name, ID or ID prefix)
    container: String,
}

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    write_archive(args.output.as_deref(), |out| {
        export(&containers, &args.container, out)?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
