//! `strata exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]`.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::exec::{exec, ExecOptions};
use strata_builder::container::ContainerStore;

/// Arguments of `strata exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub fn run(global: &Global, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let containers = ContainerStore::new(open_store(global)?);
    let env = args
        .env
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some(_) => Some(e.clone()),
            None => std::env::var(e).ok().map(|v| format!("{e}={v}")),
        })
        .collect();
    let opts = ExecOptions {
        cmd: args.command,
        env,
        workdir: args.workdir,
        user: args.user,
        tty: args.tty,
        stdin: args.interactive,
        detach: args.detach,
    };
    match exec(&containers, &args.container, &opts) {
        Ok(Some(code)) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(strata_builder::container::ContainerError::Sandbox(
            e @ strata_builder::sandbox::SandboxError::Exec { .. },
        )) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(126))
        }
        Err(e) => Err(e.into()),
    }
}
