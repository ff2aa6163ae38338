//! `strata inspect [--type container|image|network] NAME...`, `strata image inspect NAME...` and
//! `strata container inspect NAME...`: docker's JSON array of objects (`container inspect`
//! or `image inspect` JSON), or one `--format` line per object.

use super::open_store;
use crate::cli::Global;
use crate::output::error_chain;
use crate::template::Template;
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::process::ExitCode;
use strata_builder::container::ContainerError;
use strata_builder::container::{inspect::inspect_json as container_json, ContainerStore};
use strata_builder::image::{find_image, inspect_json, ImageError};
use strata_cache::network::NetworkError;
use strata_cache::Store;

/// What both `inspect` and `image inspect` take.
#[derive(Debug, Args)]
pub struct InspectTargets {
    /// Format the output using a Go-like template ({{.Id}}, {{json .Config}}) or `json`
    #[arg(short, long, value_name = "TEMPLATE")]
    format: Option<String>,
    /// Objects (names or ID prefixes)
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

/// Arguments of `strata inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Only look for objects of this type
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    kind: Option<ObjectType>,
    /// The objects and the output format
    #[command(flatten)]
    targets: InspectTargets,
}

/// The kinds of objects `inspect` finds, tried in this order without `--type` (docker's
/// order: containers, images, networks; the first kind that has the name wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectType {
    /// A container
    Container,
    /// An image
    Image,
    /// A network
    Network,
}

impl ObjectType {
    fn find(self, store: &Store, name: &str) -> anyhow::Result<Option<Value>> {
        match self {
            ObjectType::Container => match ContainerStore::new(store.clone()).find(name) {
                Ok(c) => Ok(Some(container_json(store, &c))),
                Err(ContainerError::Store(strata_cache::Error::ContainerNotFound(_))) => Ok(None),
                Err(e) => Err(e.into()),
            },
            ObjectType::Image => match find_image(store, name) {
                Ok(image) => Ok(Some(inspect_json(&image))),
                Err(ImageError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
            ObjectType::Network => match store.networks()?.find(name) {
                Ok(n) => Ok(Some(super::network::inspect_json(&n))),
                Err(NetworkError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    fn missing(self) -> &'static str {
        match self {
            ObjectType::Container => "No such container",
            ObjectType::Image => "No such image",
            ObjectType::Network => "No such network",
        }
    }
}

/// `strata inspect`.
pub fn run(global: &Global, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let kinds: Vec<ObjectType> = match args.kind {
        Some(k) => vec![k],
        None => ObjectType::value_variants().to_vec(),
    };
    let missing = match args.kind {
        Some(k) => k.missing(),
        None => "No such object",
    };
    inspect(global, &kinds, missing, args.targets)
}

/// `strata image inspect`.
pub fn run_image(global: &Global, targets: InspectTargets) -> anyhow::Result<ExitCode> {
    inspect(global, &[ObjectType::Image], "No such image", targets)
}

/// `strata container inspect`.
pub fn run_container(global: &Global, targets: InspectTargets) -> anyhow::Result<ExitCode> {
    inspect(
        global,
        &[ObjectType::Container],
        "No such container",
        targets,
    )
}

fn inspect(
    global: &Global,
    kinds: &[ObjectType],
    missing: &str,
    targets: InspectTargets,
) -> anyhow::Result<ExitCode> {
    let template = match targets.format.as_deref() {
        None | Some("json") => None,
        Some(t) => Some(Template::parse(t)?),
    };
    let store = open_store(global)?;
    let mut out = Vec::new();
    let mut failed = false;
    for name in &targets.names {
        let mut found = None;
        let mut errored = false;
        for kind in kinds {
            match kind.find(&store, name) {
                Ok(Some(v)) => {
                    found = Some(v);
                    break;
                }
                Ok(None) => {}
                Err(err) => {
                    eprintln!("Error: {}", error_chain(&err));
                    errored = true;
                    break;
                }
            }
        }
        match found {
            Some(v) => out.push(v),
            None if errored => failed = true,
            None => {
                eprintln!("Error: {missing}: {name}");
                failed = true;
            }
        }
    }
    match template {
        None => println!("{}", serde_json::to_string_pretty(&out)?),
        Some(t) => {
            for v in &out {
                println!("{}", t.render(v)?);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
