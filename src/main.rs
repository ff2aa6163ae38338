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
    exit_quietly_on_closed_stdout();
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

/// `strata images | head` closes our stdout early: like docker (and any Unix tool), stop
/// quietly instead of panicking. Rust ignores SIGPIPE, so `println!` panics with "Broken pipe";
/// the hook turns exactly that panic into the shell's SIGPIPE status (128 + 13). Restoring the
/// signal's default action instead would also kill the container monitor and `attach` when a
/// unix socket peer goes away.
fn exit_quietly_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
