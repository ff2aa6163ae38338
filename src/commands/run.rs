//! `strata run [OPTIONS] IMAGE [COMMAND] [ARG...]`: create + start, attached unless `-d`.

use super::create::CreateArgs;
use super::open_store;
use super::start::{attach_and_wait, strata_exe};
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{create, start::launch, ContainerError, ContainerStore};

/// Arguments of `strata run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// The container's options, image and command
    #[command(flatten)]
    pub create: CreateArgs,
}

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let containers = ContainerStore::new(store.clone());
    let c = create(&store, &args.create.options(args.rm)?)?;
    let attach = !args.detach;
    let stdin = attach && args.create.interactive;
    match launch(&containers, &c, &strata_exe()?, attach, stdin) {
        Ok(launched) => match launched.attach {
            Some(stream) => attach_and_wait(&containers, &c, stream, stdin),
            None => {
                println!("{}", c.id());
                Ok(ExitCode::SUCCESS)
            }
        },
        Err(ContainerError::StartFailed { message, code }) => {
            if args.rm {
                // The monitor could not start the process: it did not remove it either.
                let _ = strata_builder::container::remove::remove(&containers, &c.id().hex(), true);
            }
            eprintln!("error: {message}");
            Ok(ExitCode::from(code.clamp(1, 255) as u8))
        }
        Err(e) => Err(e.into()),
    }
}
