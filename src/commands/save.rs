//! `strata save [-o FILE] [--format docker|oci] IMAGE...`.

use super::open_store;
use crate::cli::Global;
use crate::output::write_archive;
use clap::{Args, ValueEnum};
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
    write_archive(args.output.as_deref(), |out| {
        save_archive(&store, &items, format, out)?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
