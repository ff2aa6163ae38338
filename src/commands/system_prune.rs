//! `strata system prune [-a] [-f] [--volumes] [--filter until=...]`: what docker's prunes
//! together: stopped containers, unused networks, dangling (with `-a` all unused) images and build cache, with
//! docker's prompt.

use super::builder_prune::{cache_filter, prune as prune_cache};
use super::{confirm, open_store};
use crate::cli::Global;
use crate::output::human_size;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{remove::prune as prune_containers, ContainerStore};
use strata_builder::image::prune_images;

/// Arguments of `strata system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones, and all build cache
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune volumes: strata has no volumes, so there are none to remove (accepted so
    /// docker's cleanup scripts run unchanged)
    #[arg(long)]
    volumes: bool,
    /// Provide filter values (until=DURATION, applied to the build cache)
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

pub fn run(global: &Global, args: SystemPruneArgs) -> anyhow::Result<ExitCode> {
    // Bad filters fail before the question.
    let cache = cache_filter(args.all, &args.filter)?;
    let mut question = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if args.all {
        question.push_str("  - all images without at least one container associated to them\n");
        question.push_str("  - all build cache\n");
    } else {
        question.push_str("  - all dangling images\n");
        question.push_str("  - all dangling build cache\n");
    }
    question.push_str("\nAre you sure you want to continue?");
    if !args.force && !confirm(&question) {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(global)?;
    // Containers first: the images they held become unused.
    let (containers, container_bytes) = prune_containers(&ContainerStore::new(store.clone()))?;
    if !containers.is_empty() {
        println!("Deleted Containers:");
        for id in &containers {
            println!("{id}");
        }
        println!();
    }
    // docker's order: networks once their containers are gone, then images.
    let networks = super::network::prune_unused(&store, &[])?;
    if !networks.is_empty() {
        println!("Deleted Networks:");
        for n in &networks {
            println!("{n}");
        }
        println!();
    }
    let images = prune_images(&store, args.all)?;
    if !images.untagged.is_empty() || !images.deleted.is_empty() {
        println!("Deleted Images:");
        for name in &images.untagged {
            println!("untagged: {name}");
        }
        for id in &images.deleted {
            println!("deleted: {id}");
        }
        println!();
    }
    drop(store);
    let cache_freed = prune_cache(global, cache)?;
    println!(
        "Total reclaimed space: {}",
        human_size(container_bytes + images.bytes_freed + cache_freed)
    );
    Ok(ExitCode::SUCCESS)
}
