//! `strata inspect NAME...`: docker's `image inspect` JSON for images, `container
//! inspect` JSON for containers (an image of that name first, as docker does).

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
use clap::Args;
use std::process::ExitCode;
use strata_builder::container::{inspect::inspect_json as container_json, ContainerStore};
use strata_builder::image::{find_image, inspect_json, ImageError};

/// Arguments of `strata inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Only `image` or `container` objects
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Images or containers (names or IDs)
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

pub fn run(global: &Global, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let (images, containers) = match args.kind.as_deref() {
        None => (true, true),
        Some("image") => (true, false),
        Some("container") => (false, true),
        Some(kind) => anyhow::bail!("unsupported --type {kind:?}: image or container"),
    };
    let store = open_store(global)?;
    let in_containers = ContainerStore::new(store.clone());
    let mut out = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let image = if images {
            find_image(&store, name)
        } else {
            Err(ImageError::NotFound(name.clone()))
        };
        match image {
            Ok(image) => out.push(inspect_json(&image)),
            Err(ImageError::NotFound(_)) if containers => match in_containers.find(name) {
                Ok(c) => out.push(container_json(&store, &c)),
                Err(err) => {
                    let err: anyhow::Error = if images {
                        anyhow::anyhow!("No such object: {name}")
                    } else {
                        err.into()
                    };
                    eprintln!("Error: {}", error_chain(&err));
                    failed = true;
                }
            },
            Err(err) => {
                eprintln!("Error: {}", error_chain(&err.into()));
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
