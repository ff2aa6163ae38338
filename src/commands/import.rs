//! `strata import FILE|- [REFERENCE]`: a root filesystem tar becomes a one-layer image.

use super::open_store;
use crate::cli::Global;
use anyhow::Context;
use clap::Args;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::image::{import_image, ImportOptions};
use strata_registry::Reference;

/// Arguments of `strata import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tar file (plain, gzip or zstd), or - for stdin
    file: PathBuf,
    /// REPOSITORY[:TAG] to give the image
    reference: Option<String>,
    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Set a commit message for the imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable (only this machine's)
    #[arg(long)]
    platform: Option<String>,
}

pub fn run(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    // Parse everything the user typed before touching the store.
    let names = match &args.reference {
        Some(r) => vec![Reference::parse(r)?.with_default_tag().to_string()],
        None => vec![],
    };
    if let Some(platform) = &args.platform {
        let host = strata_builder::image::host_platform();
        let wanted = format!("{}/{}", host.os, host.architecture);
        anyhow::ensure!(
            *platform == wanted,
            "platform {platform} is not supported; only {wanted}"
        );
    }
    let config = strata_builder::image::config_with_changes(&args.change)?;
    let source = args.file.display().to_string();
    let input: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&args.file).with_context(|| format!("opening {source}"))?)
    };
    let store = open_store(global)?;
    let options = ImportOptions {
        message: args.message,
        source,
        config,
        // SOURCE_DATE_EPOCH makes the image reproducible, as it does for build.
        created: match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => {
                let secs: i64 = v
                    .parse()
                    .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))?;
                chrono::DateTime::from_timestamp(secs, 0)
                    .context("SOURCE_DATE_EPOCH is out of range")?
            }
            Err(_) => chrono::Utc::now(),
        },
    };
    let imported = import_image(&store, input, &options, &names)
        .with_context(|| format!("importing {}", options.source))?;
    println!("{}", imported.id);
    Ok(ExitCode::SUCCESS)
}
