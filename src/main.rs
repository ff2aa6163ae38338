//! The `strata` command: argument parsing, dispatch and error reporting. The work itself lives
//! in the library crates; each command is one file under `commands/`.

mod cli;
mod commands;
mod output;
mod progress;
mod transfers;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse_from(commands::create::rewrite_volume_flags(
        std::env::args_os().collect(),
    ));
    cli.global.init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", output::error_chain(&err));
            ExitCode::FAILURE
        }
    }
}
