//! `strata start [-a] [-i] CONTAINER...`.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::container::attach::{stream, AttachEnd, RawTerminal};
use strata_builder::container::stop::proxy_signal;
use strata_builder::container::{start::launch, Container, ContainerError, ContainerStore};

/// Arguments of `strata start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// This program, for the monitor to re-execute.
pub fn strata_exe() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?)
}

/// Streams an attached container until it exits (its code) or the user detaches (0).
pub fn attach_and_wait(
    containers: &ContainerStore,
    c: &Container,
    conn: UnixStream,
    stdin: bool,
) -> anyhow::Result<ExitCode> {
    let tty = c.config.tty;
    // docker's --sig-proxy: without a pty, Ctrl-C goes to the container's process (with a
    // pty the terminal sends it, in raw mode, as a byte).
    if !tty {
        let (containers, id) = (containers.clone(), *c.id());
        let _ = ctrlc::set_handler(move || {
            let _ = proxy_signal(&containers, &id, 2);
        });
    }
    let raw = (tty && stdin).then(RawTerminal::enable);
    let end = stream(conn, stdin, tty)?;
    drop(raw);
    Ok(match end {
        AttachEnd::Exited(code) => ExitCode::from(code.clamp(0, 255) as u8),
        AttachEnd::Detached => ExitCode::SUCCESS,
        AttachEnd::Lost => {
            let code = containers
                .get(c.id())
                .map(|c| c.state.exit_code)
                .unwrap_or(137);
            eprintln!("error: the container's monitor ended unexpectedly");
            ExitCode::from(code.clamp(1, 255) as u8)
        }
    })
}

pub fn run(global: &Global, args: StartArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    let exe = strata_exe()?;
    let attach = args.attach || args.interactive;
    anyhow::ensure!(
        !attach || args.containers.len() == 1,
        "you cannot start and attach multiple containers at once"
    );
    let mut failed = false;
    for name in &args.containers {
        let c = containers.find(name)?;
        if c.is_running() && !attach {
            println!("{name}");
            continue;
        }
        match launch(&containers, &c, &exe, attach, args.interactive) {
            Ok(launched) => match launched.attach {
                Some(conn) => return attach_and_wait(&containers, &c, conn, args.interactive),
                None => println!("{name}"),
            },
            Err(ContainerError::StartFailed { message, code }) if attach => {
                eprintln!("error: {message}");
                return Ok(ExitCode::from(code.clamp(1, 255) as u8));
            }
            Err(e) => {
                eprintln!("error: {}", crate::output::error_chain(&e.into()));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
