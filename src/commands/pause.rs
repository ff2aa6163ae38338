//! `strata pause CONTAINER...`: freeze every process of the containers.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
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
    let mut failed = false;
    for name in &args.containers {
        let done = if freeze {
            pause::pause(&containers, name)
        } else {
            pause::unpause(&containers, name)
        };
        match done {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", error_chain(&e.into()));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn run(global: &Global, args: PauseArgs) -> anyhow::Result<ExitCode> {
    each(global, args, true)
}
