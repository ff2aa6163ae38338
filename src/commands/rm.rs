//! `strata rm [-f] [-v] CONTAINER...`.

use super::{each_container, open_store};
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{remove::remove, ContainerStore};

/// Arguments of `strata rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container (strata makes none; `-v`
    /// is the global --verbose)
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn run(global: &Global, args: RmArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    Ok(each_container(&args.containers, |name| {
        remove(&containers, name, args.force)
    }))
}
