//! `strata logs [-f] [--tail N] [-t] CONTAINER`.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::logs::{logs, LogOptions};
use strata_builder::container::ContainerStore;

/// Arguments of `strata logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all", value_name = "N")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(global: &Global, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}"))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let containers = ContainerStore::new(open_store(global)?);
    let opts = LogOptions {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
    };
    logs(
        &containers,
        &args.container,
        &opts,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )?;
    Ok(ExitCode::SUCCESS)
}
