//! `strata commit [-a AUTHOR] [-c INSTRUCTION]... [-m MSG] [-p=false] CONTAINER
//! [REPOSITORY[:TAG]]`: a container's changes become a new image.

use super::open_store;
use crate::cli::Global;
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::commit::{commit, CommitRequest};
use strata_builder::container::ContainerStore;
use strata_builder::layer::LayerCompression;
use strata_registry::Reference;

/// Arguments of `strata commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit (--pause=false to not)
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pause: bool,
    /// The container (name, ID or ID prefix)
    container: String,
    /// REPOSITORY[:TAG] to give the image
    reference: Option<String>,
}

pub fn run(global: &Global, args: CommitArgs) -> anyhow::Result<ExitCode> {
    // Parse everything the user typed before touching the store.
    let tags = match &args.reference {
        Some(r) => {
            let reference = Reference::parse(r)?;
            anyhow::ensure!(
                reference.digest().is_none(),
                "refusing to create a tag with a digest reference"
            );
            vec![reference.with_default_tag().to_string()]
        }
        None => vec![],
    };
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    let request = CommitRequest {
        changes: args.change,
        message: args.message,
        author: args.author,
        tags,
        pause: args.pause,
        created: chrono::Utc::now(),
        compression: LayerCompression::default(),
    };
    let committed = commit(&containers, &args.container, &request)
        .with_context(|| format!("committing {}", args.container))?;
    println!("{}", committed.id);
    Ok(ExitCode::SUCCESS)
}
