//! `strata stop [-t SECS] CONTAINER...`.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
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
    let mut failed = false;
    for name in &args.containers {
        match stop(&containers, name, args.time) {
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
