//! `strata kill [-s SIGNAL] CONTAINER...`.

use super::{each_container, open_store};
use crate::cli::Global;
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
    Ok(each_container(&args.containers, |name| {
        kill(&containers, name, args.signal.as_deref())
    }))
}
