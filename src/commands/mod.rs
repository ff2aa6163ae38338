//! One file per command; `run` dispatches.

pub mod attach;
pub mod build;
pub mod builder_prune;
pub mod check;
pub mod commit;
pub mod completion;
pub mod container_monitor;
pub mod container_prune;
pub mod create;
pub mod debug;
pub mod df;
pub mod diff;
pub mod exec;
pub mod export;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod network;
pub mod pause;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod resources;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system_prune;
pub mod tag;
pub mod top;
pub mod unpause;
pub mod version;

use crate::cli::{
    BuilderCommand, Cli, Command, ContainerCommand, Global, ImageCommand, SystemCommand,
};
use anyhow::Context;
use std::process::ExitCode;
use strata_cache::Store;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Import(args) => import::run(&global, args),
        Command::Images(args) => images::run(&global, args),
        Command::Tag(args) => tag::run(&global, args),
        Command::Rmi(args) => rmi::run(&global, args),
        Command::Inspect(args) => inspect::run(&global, args),
        Command::History(args) => history::run(&global, args),
        Command::Save(args) => save::run(&global, args),
        Command::Load(args) => load::run(&global, args),
        Command::Pull(args) => pull::run(&global, args),
        Command::Push(args) => push::run(&global, args),
        Command::Login(args) => login::run(&global, args),
        Command::Logout(args) => logout::run(&global, args),
        Command::Search(args) => search::run(args),
        Command::Version(args) => version::run(args),
        Command::Info(args) => info::run(&global, args),
        Command::Image(cmd) => match cmd {
            ImageCommand::Build(args) => build::run(&global, args),
            ImageCommand::History(args) => history::run(&global, args),
            ImageCommand::Import(args) => import::run(&global, args),
            ImageCommand::Inspect(args) => inspect::run_image(&global, args),
            ImageCommand::Load(args) => load::run(&global, args),
            ImageCommand::Ls(args) => images::run(&global, args),
            ImageCommand::Prune(args) => prune::run(&global, args),
            ImageCommand::Pull(args) => pull::run(&global, args),
            ImageCommand::Push(args) => push::run(&global, args),
            ImageCommand::Rm(args) => rmi::run(&global, args),
            ImageCommand::Save(args) => save::run(&global, args),
            ImageCommand::Tag(args) => tag::run(&global, args),
        },
        Command::System(cmd) => match cmd {
            SystemCommand::Df(args) => df::run(&global, args),
            SystemCommand::Info(args) => info::run(&global, args),
            SystemCommand::Prune(args) => system_prune::run(&global, args),
            SystemCommand::Check(args) => check::run(&global, args),
        },
        Command::Builder(cmd) => match cmd {
            BuilderCommand::Build(args) => build::run(&global, args),
            BuilderCommand::Prune(args) => builder_prune::run(&global, args),
        },
        Command::Completion(args) => completion::run(args),
        Command::Build(args) => build::run(&global, *args),
        Command::Commit(args) => commit::run(&global, args),
        Command::Diff(args) => diff::run(&global, args),
        Command::Export(args) => export::run(&global, args),
        Command::Debug(cmd) => debug::run(cmd),
        Command::Create(args) => create::run(&global, args),
        Command::Run(args) => run::run(&global, args),
        Command::Start(args) => start::run(&global, args),
        Command::Ps(args) => ps::run(&global, args),
        Command::Logs(args) => logs::run(&global, args),
        Command::Attach(args) => attach::run(&global, args),
        Command::Exec(args) => exec::run(&global, args),
        Command::Stop(args) => stop::run(&global, args),
        Command::Kill(args) => kill::run(&global, args),
        Command::Restart(args) => restart::run(&global, args),
        Command::Rm(args) => rm::run(&global, args),
        Command::Pause(args) => pause::run(&global, args),
        Command::Unpause(args) => unpause::run(&global, args),
        Command::Top(args) => top::run(&global, args),
        Command::Container(cmd) => match cmd {
            ContainerCommand::Attach(args) => attach::run(&global, args),
            ContainerCommand::Create(args) => create::run(&global, args),
            ContainerCommand::Exec(args) => exec::run(&global, args),
            ContainerCommand::Inspect(args) => inspect::run_container(&global, args),
            ContainerCommand::Kill(args) => kill::run(&global, args),
            ContainerCommand::Logs(args) => logs::run(&global, args),
            ContainerCommand::Ls(args) => ps::run(&global, args),
            ContainerCommand::Pause(args) => pause::run(&global, args),
            ContainerCommand::Prune(args) => container_prune::run(&global, args),
            ContainerCommand::Restart(args) => restart::run(&global, args),
            ContainerCommand::Rm(args) => rm::run(&global, args),
            ContainerCommand::Run(args) => run::run(&global, args),
            ContainerCommand::Start(args) => start::run(&global, args),
            ContainerCommand::Stop(args) => stop::run(&global, args),
            ContainerCommand::Top(args) => top::run(&global, args),
            ContainerCommand::Unpause(args) => unpause::run(&global, args),
            ContainerCommand::Stats(args) => stats::run(&global, args),
            ContainerCommand::Commit(args) => commit::run(&global, args),
            ContainerCommand::Diff(args) => diff::run(&global, args),
            ContainerCommand::Export(args) => export::run(&global, args),
        },
        Command::ContainerMonitor(args) => container_monitor::run(&global, args),
        Command::Network(cmd) => network::run(&global, cmd),
        Command::Stats(args) => stats::run(&global, args),
    }
}

/// Runs `op` on each named container as docker's multi-container commands do: the name on
/// stdout for each success, docker's error line for each failure, exit 1 if any failed.
pub fn each_container<T>(
    names: &[String],
    mut op: impl FnMut(&str) -> Result<T, strata_builder::container::ContainerError>,
) -> ExitCode {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!(
                    "Error response from daemon: {}",
                    crate::output::error_chain(&e.into())
                );
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens the store named by `--root`.
pub fn open_store(global: &Global) -> anyhow::Result<Store> {
    let root = global.root_dir();
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

/// Asks docker's `[y/N]` question on stderr; true on y/yes.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
