//! `strata rmi [-f] IMAGE...`: untag, then delete what no name holds.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
use clap::Args;
use std::process::ExitCode;
use strata_builder::image::remove_image;

/// Arguments of `strata rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of an image that has several names
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (accepted for compatibility: strata keeps no parents)
    #[arg(long)]
    no_prune: bool,
    /// Images to remove (names or IDs)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn run(global: &Global, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let mut failed = false;
    // Like docker: each image on its own, errors reported, the rest still removed.
    for query in &args.images {
        match remove_image(&store, query, args.force) {
            Ok(removed) => {
                for name in removed.untagged {
                    println!("Untagged: {name}");
                }
                for id in removed.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(err) => {
                eprintln!("Error: {}", error_chain(&err.into()));
                failed = true;
            }
        }
    }
    let _ = args.no_prune;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
