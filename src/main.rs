//! The `strata` command: argument parsing, dispatch and error reporting. The work itself lives
//! in the library crates; each command is one file under `commands/`.

mod cli;
mod commands;
mod output;
mod progress;
mod template;
mod transfers;

use clap::FromArgMatches;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = commands::create::rewrite_volume_flags(std::env::args_os().collect());
    let cli = match cli::Cli::from_arg_matches(&cli::command().get_matches_from(args)) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    cli.global.init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", output::error_chain(&err));
            ExitCode::FAILURE
        }
    }
}
