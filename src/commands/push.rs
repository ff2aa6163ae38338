//! `strata push NAME[:TAG] [DESTINATION]`: an image of the store to a registry, blobs
//! streamed from the store and skipped when the registry has them; the manifest is sent as
//! stored, so its digest is the image's.

use super::open_store;
use super::pull::{for_each_parallel, with_login_hint, RegistryArgs, PARALLEL_TRANSFERS};
use crate::cli::{Global, Progress};
use anyhow::Context;
use clap::Args;
use std::io;
use std::process::ExitCode;
use strata_builder::image::find_image;
use strata_cache::{Descriptor, Store};
use strata_registry::{BlobPush, Client, Reference};

/// Arguments of `strata push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image to push: NAME[:TAG] (or an image ID when DESTINATION is given)
    reference: String,
    /// Where to push it, NAME[:TAG] [default: the image's name]
    destination: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Pushes one blob of the store.
fn push_blob(
    store: &Store,
    client: &Client,
    dest: &Reference,
    blob: &Descriptor,
    mount_from: Option<&str>,
) -> anyhow::Result<BlobPush> {
    let mut open = || store.open_blob(&blob.digest).map_err(io::Error::other);
    Ok(client.push_blob(dest, &blob.digest, blob.size, mount_from, &mut open)?)
}

pub fn run(global: &Global, args: PushArgs) -> anyhow::Result<ExitCode> {
    let dest_text = args.destination.as_deref().unwrap_or(&args.reference);
    let host = Reference::parse(dest_text)
        .map(|r| r.domain().to_string())
        .unwrap_or_default();
    push(global, args).map_err(|e| with_login_hint(e, &host))
}

fn push(global: &Global, args: PushArgs) -> anyhow::Result<ExitCode> {
    let dest_text = args.destination.as_deref().unwrap_or(&args.reference);
    let dest = Reference::parse(dest_text)?;
    let dest = if dest.digest().is_some() {
        dest
    } else {
        dest.with_default_tag()
    };
    let client = args.registry.client()?;
    let store = open_store(global)?;
    let image = find_image(&store, &args.reference)?;
    let quiet = args.quiet || global.progress == Progress::Quiet;
    if !quiet {
        println!("The push refers to repository [{}]", dest.name());
    }
    // Another name of the image in the same registry most likely holds its blobs: ask for
    // mounts from there instead of uploading again.
    let mount_from = image
        .references()
        .into_iter()
        .find(|r| r.domain() == dest.domain() && r.path() != dest.path())
        .map(|r| r.path().to_string());

    // Keep the blobs from GC while they are read.
    let lease = store.lease()?;
    let mut layers = image.manifest.layers.clone();
    layers.reverse();
    for_each_parallel(&layers, PARALLEL_TRANSFERS, |layer| {
        let short = &layer.digest.hex()[..12];
        let how = push_blob(&store, &client, &dest, layer, mount_from.as_deref())
            .with_context(|| format!("pushing layer {}", layer.digest))?;
        if !quiet {
            match how {
                BlobPush::Exists => println!("{short}: Layer already exists"),
                BlobPush::Mounted => println!(
                    "{short}: Mounted from {}",
                    mount_from.as_deref().unwrap_or("")
                ),
                BlobPush::Uploaded => println!("{short}: Pushed"),
            }
        }
        Ok(())
    })?;
    push_blob(
        &store,
        &client,
        &dest,
        &image.manifest.config,
        mount_from.as_deref(),
    )
    .context("pushing the image config")?;
    let descriptor = &image.entry.descriptor;
    let bytes = store.read_blob(&descriptor.digest)?;
    let digest = client
        .put_manifest(&dest, &descriptor.media_type, &bytes)
        .context("pushing the manifest")?;
    // docker records the pushed digest as a RepoDigest.
    store.tag(&format!("{}@{digest}", dest.name()), descriptor)?;
    drop(lease);
    let tag = dest.tag().or(dest.digest()).unwrap_or("latest");
    println!("{tag}: digest: {digest} size: {}", bytes.len());
    Ok(ExitCode::SUCCESS)
}
