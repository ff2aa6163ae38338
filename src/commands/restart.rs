//! `strata restart [-t SECS] CONTAINER...`: stop, then start.

use super::start::strata_exe;
use super::{each_container, open_store};
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{start::launch, stop::stop, ContainerStore};

/// Arguments of `strata restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", value_name = "SECS")]
    pub time: Option<u64>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn run(global: &Global, args: RestartArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let exe = strata_exe()?;
    Ok(each_container(&args.containers, |name| {
        stop(&containers, name, args.time)
            .and_then(|_| containers.find(name))
            .and_then(|c| launch(&containers, &c, &exe, false, false))
    }))
}
