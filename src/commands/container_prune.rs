//! `strata container prune [-f]`: remove every stopped container.

use super::{confirm, open_store};
use crate::cli::Global;
use crate::output::human_size;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{remove::prune, ContainerStore};

/// Arguments of `strata container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run(global: &Global, args: ContainerPruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(ExitCode::SUCCESS);
    }
    let containers = ContainerStore::new(open_store(global)?);
    let (removed, bytes) = prune(&containers)?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(ExitCode::SUCCESS)
}
