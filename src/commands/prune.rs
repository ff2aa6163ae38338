//! `strata image prune [-a] [-f]`.

use super::{confirm, open_store};
use crate::cli::Global;
use crate::output::human_size;
use clap::Args;
use std::process::ExitCode;
use strata_builder::image::prune_images;

/// Arguments of `strata image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(global: &Global, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let question = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !args.force && !confirm(question) {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(global)?;
    let report = prune_images(&store, args.all)?;
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        println!("Deleted Images:");
        for name in &report.untagged {
            println!("untagged: {name}");
        }
        for id in &report.deleted {
            println!("deleted: {id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.bytes_freed));
    Ok(ExitCode::SUCCESS)
}
