//! `strata stop [-t SECS] CONTAINER...`.

use super::{each_container, open_store};
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{stop::stop, ContainerStore};

/// Arguments of `strata stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", value_name = "SECS")]
    pub time: Option<u64>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn run(global: &Global, args: StopArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    Ok(each_container(&args.containers, |name| {
        stop(&containers, name, args.time)
    }))
}
