//! `strata save [-o FILE] [--format docker|oci] IMAGE...`.

use super::open_store;
use crate::cli::Global;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::image::archive::{save_archive, ArchiveFormat, SaveItem};
use strata_builder::image::find_image;
use strata_registry::Reference;

/// Arguments of `strata save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    format: Format,
    /// Images (names or IDs)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// docker-archive (docker load)
    Docker,
    /// OCI image layout archive
    Oci,
}

pub fn run(global: &Global, args: SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for query in &args.images {
        let image = find_image(&store, query)?;
        // docker records the name the image was asked by; an ID records none.
        let full = Reference::parse(query)
            .ok()
            .map(|r| r.with_default_tag().to_string());
        let names: Vec<Reference> = image
            .references()
            .into_iter()
            .filter(|r| Some(r.to_string()) == full)
            .collect();
        match items.iter_mut().find(|i| i.image.id == image.id) {
            Some(item) => item.names.extend(names),
            None => items.push(SaveItem { image, names }),
        }
    }
    let format = match args.format {
        Format::Docker => ArchiveFormat::Docker,
        Format::Oci => ArchiveFormat::Oci,
    };
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
                save_archive(&store, &items, format, &mut out)?;
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
            save_archive(&store, &items, format, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
