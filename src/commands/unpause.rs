//! `strata unpause CONTAINER...`.

use super::pause::{each, PauseArgs};
use crate::cli::Global;
use std::process::ExitCode;

pub fn run(global: &Global, args: PauseArgs) -> anyhow::Result<ExitCode> {
    each(global, args, false)
}
