//! `strata restart [-t SECS] CONTAINER...`: stop, then start.

use super::open_store;
use super::start::strata_exe;
use crate::cli::Global;
use crate::output::error_chain;
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
    let mut failed = false;
    for name in &args.containers {
        let done = stop(&containers, name, args.time)
            .and_then(|_| containers.find(name))
            .and_then(|c| launch(&containers, &c, &exe, false, false));
        match done {
            Ok(_) => println!("{name}"),
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
