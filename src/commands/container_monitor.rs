//! `strata container-monitor ID` (hidden): the per-container monitor. The first copy
//! starts a second one (`--stage2`) in its own session and exits, so the monitor is no
//! child of the command that started the container; the second copy runs
//! `strata_builder::container::monitor::run`.

use super::open_store;
use crate::cli::Global;
use clap::Args;
use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Command, ExitCode, Stdio};
use strata_builder::container::monitor;

/// Arguments of the hidden `strata container-monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Wait for one attach client before starting the process
    #[arg(long = "attach-first")]
    pub attach_first: bool,
    /// The second stage (the monitor proper)
    #[arg(long)]
    pub stage2: bool,
    /// The container's full ID
    pub id: String,
}

pub fn run(global: &Global, args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    if !args.stage2 {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("--root")
            .arg(store.root())
            .arg("container-monitor")
            .arg("--stage2");
        if args.attach_first {
            cmd.arg("--attach-first");
        }
        cmd.arg(&args.id).stdin(Stdio::null());
        cmd.spawn()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Our own session: no terminal signals from the starter's.
    let _ = monitor::new_session();
    let id = args.id.parse()?;
    // The starter reads how the start went on our stdout; afterwards it is /dev/null.
    let report = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let devnull = File::options().write(true).open("/dev/null")?;
    monitor::redirect_stdout(&devnull)?;
    let code = monitor::run(store, id, args.attach_first, report)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
