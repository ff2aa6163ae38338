//! `strata completion bash|zsh|fish`: prints a shell completion script.

use clap::{Args, ValueEnum};
use std::process::ExitCode;

/// Arguments of `strata completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(args: CompletionArgs) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut crate::cli::command(),
        "strata",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
