//! `strata top CONTAINER`: the container's processes, `ps -ef` style.

use super::open_store;
use crate::cli::Global;
use crate::output::print_table;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{top, ContainerStore};

/// Arguments of `strata top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(global: &Global, args: TopArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let rows = top::top(&containers, &args.container)?;
    print_table(&top::HEADER, &rows);
    Ok(ExitCode::SUCCESS)
}
