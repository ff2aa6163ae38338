//! `strata load [-i FILE]`: docker or OCI archives (plain or compressed) into the store.

use super::open_store;
use crate::cli::Global;
use anyhow::{bail, Context};
use clap::Args;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::image::archive::load_archive;

/// Arguments of `strata load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(global: &Global, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let input: Box<dyn Read> = match &args.input {
        Some(path) if path.as_os_str() != "-" => {
            Box::new(File::open(path).with_context(|| format!("opening {}", path.display()))?)
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(stdin.lock())
        }
    };
    let store = open_store(global)?;
    let loaded = load_archive(&store, input).context("loading the archive")?;
    if !args.quiet {
        for image in loaded {
            if image.names.is_empty() {
                println!("Loaded image ID: {}", image.id);
            }
            for name in image.names {
                println!("Loaded image: {}", name.familiar_string());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
