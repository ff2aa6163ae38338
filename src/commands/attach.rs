//! `strata attach CONTAINER`: the running container's output here, this stdin there;
//! Ctrl-P Ctrl-Q detaches.

use super::open_store;
use super::start::attach_and_wait;
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::attach::connect_to;
use strata_builder::container::ContainerStore;

/// Arguments of `strata attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(global: &Global, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let c = containers.find(&args.container)?;
    let stdin = !args.no_stdin && c.config.open_stdin;
    let (conn, _) = connect_to(&containers, &args.container, stdin)?;
    attach_and_wait(&containers, &c, conn, stdin)
}
