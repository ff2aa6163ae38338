//! `strata kill [-s SIGNAL] CONTAINER...`.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{stop::kill, ContainerStore};

/// Arguments of `strata kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container (default KILL)
    #[arg(short = 's', long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn run(global: &Global, args: KillArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let mut failed = false;
    for name in &args.containers {
        match kill(&containers, name, args.signal.as_deref()) {
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
