//! `strata export [-o FILE] CONTAINER`: the container's file system as one tar.

use super::open_store;
use crate::cli::Global;
use anyhow::{bail, Context};
use clap::Args;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::container::export::export;
use strata_builder::container::ContainerStore;

/// Arguments of `strata export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container (name, ID or ID prefix)
    container: String,
}

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let containers = ContainerStore::new(store);
    match &args.output {
        Some(path) => {
            // Written beside the target and renamed, so a failure never leaves half a file.
            let tmp = path.with_file_name(format!(
                ".{}.strata-tmp",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let result = (|| {
                let file =
                    File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                export(&containers, &args.container, &mut out)?;
                let file = out.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            export(&containers, &args.container, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
