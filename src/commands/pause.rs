//! `strata pause CONTAINER...`: freeze every process of the containers.

use super::{each_container, open_store};
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{pause, ContainerStore};

/// Arguments of `strata pause` (and `unpause`).
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Pauses (`freeze`) or unpauses each container.
pub fn each(global: &Global, args: PauseArgs, freeze: bool) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    Ok(each_container(&args.containers, |name| {
        if freeze {
            pause::pause(&containers, name)
        } else {
            pause::unpause(&containers, name)
        }
    }))
}

pub fn run(global: &Global, args: PauseArgs) -> anyhow::Result<ExitCode> {
    each(global, args, true)
}
