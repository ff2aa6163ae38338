//! `strata tag SOURCE TARGET`.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::image::find_image;
use strata_registry::Reference;

/// Arguments of `strata tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG] or image ID
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub fn run(global: &Global, args: TagArgs) -> anyhow::Result<ExitCode> {
    let target = Reference::parse(&args.target)?.with_default_tag();
    if target.digest().is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let store = open_store(global)?;
    let image = find_image(&store, &args.source)?;
    store.tag(&target.to_string(), &image.entry.descriptor)?;
    Ok(ExitCode::SUCCESS)
}
