//! `strata pull [--platform P] [-a] NAME[:TAG|@DIGEST]`: an image (or every tagged image of
//! a repository) from a registry into the store, every blob stored byte for byte (so the
//! manifest digest, and the image ID, are kept).

use super::open_store;
use crate::cli::Global;
use crate::transfers::{Tracked, Transfers};
use anyhow::Context;
use clap::{ArgAction, Args};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use strata_builder::image::host_platform;
use strata_cache::oci::media_type;
use strata_cache::{Descriptor, Digest, ImageConfig, ImageIndex, ImageManifest, Platform, Store};
use strata_registry::{
    parse_platform, select_manifest, Client, ClientOptions, Reference, RegistryError,
};

/// Options of the commands that talk to a registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Credentials file [default: $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
    /// ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// A registry reached over plain HTTP or unverified TLS (besides localhost and 127.0.0.0/8)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Require HTTPS and verify certificates
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
}

impl RegistryArgs {
    /// Client options these flags stand for.
    pub fn options(&self) -> ClientOptions {
        ClientOptions {
            insecure_registries: self.insecure_registry.clone(),
            tls_verify: self.tls_verify,
            auth_file: self.authfile.clone(),
            ..Default::default()
        }
    }

    /// A client with these options.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(self.options())?)
    }
}

/// Arguments of `strata pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    reference: String,
    /// Set platform if the image is multi-platform (OS/ARCH[/VARIANT]) [default: this machine's]
    #[arg(long)]
    platform: Option<String>,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Layers moving at once, as docker's default `max-concurrent-downloads`/`uploads`.
pub const PARALLEL_TRANSFERS: usize = 3;

/// Runs `job` over `items` on up to `threads` threads; the first error wins (the other
/// threads stop taking new items).
pub fn for_each_parallel<T: Sync>(
    items: &[T],
    threads: usize,
    job: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                if failure.lock().expect("failure slot").is_some() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                if let Err(e) = job(item) {
                    failure.lock().expect("failure slot").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match failure.into_inner().expect("failure slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Adds the advice to log in to an authorization failure from `host`.
pub fn with_login_hint(err: anyhow::Error, host: &str) -> anyhow::Error {
    let refused = err.chain().any(|e| {
        matches!(
            e.downcast_ref::<RegistryError>(),
            Some(RegistryError::Unauthorized { .. } | RegistryError::Auth { .. })
        )
    });
    if refused {
        err.context(format!(
            "{host} refused the request (log in with `strata login {host}`)"
        ))
    } else {
        err
    }
}

/// What [`pull_image`] did.
#[derive(Debug)]
pub struct Pulled {
    /// The digest of what the reference named (an index for multi-platform images).
    pub digest: Digest,
    /// True when the name already pointed at this manifest.
    pub up_to_date: bool,
}

/// Pulls `reference` for `platform` (this machine's when `None`) into `store` and names it
/// `reference` and `repository@digest`, showing docker's per-layer progress on `progress`.
pub fn pull_image(
    store: &Store,
    client: &Client,
    reference: &Reference,
    requested: Option<&Platform>,
    progress: &Transfers,
) -> anyhow::Result<Pulled> {
    let host = host_platform();
    let platform = requested.unwrap_or(&host);
    let top = client.get_manifest(reference)?;
    let manifest = if top.is_index() {
        let index: ImageIndex = serde_json::from_slice(&top.bytes)
            .with_context(|| format!("parsing the index {}", top.digest))?;
        let entry = select_manifest(&index, platform)?;
        let manifest = client.get_manifest_by_digest(reference, &entry.digest)?;
        anyhow::ensure!(
            !manifest.is_index(),
            "index {} names another index for {}",
            top.digest,
            strata_registry::platform_string(platform)
        );
        manifest
    } else {
        top.clone()
    };
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("parsing the manifest {}", manifest.digest))?;
    anyhow::ensure!(
        media_type::is_config(&parsed.config.media_type),
        "{} is not a container image (config type {})",
        reference,
        parsed.config.media_type
    );

    // The lease keeps GC away from blobs committed before the names are recorded.
    let lease = store.lease()?;
    let fetch = |d: &Descriptor, id: Option<&str>| -> anyhow::Result<bool> {
        if store.has_blob(&d.digest)? && store.blob_size(&d.digest)? == d.size {
            return Ok(false);
        }
        let mut writer = store.blob_writer()?;
        match id {
            Some(id) => {
                let total = Some(d.size);
                let mut tracked =
                    Tracked::new(&mut writer, |n| progress.bytes(id, "Downloading", n, total));
                client.get_blob(reference, &d.digest, Some(d.size), &mut tracked)?;
                progress.status(id, "Download complete");
            }
            None => {
                client.get_blob(reference, &d.digest, Some(d.size), &mut writer)?;
            }
        }
        writer.commit(Some(&d.digest))?;
        Ok(true)
    };
    fetch(&parsed.config, None).context("pulling the image config")?;
    if let (Some(wanted), false) = (requested, top.is_index()) {
        let config: ImageConfig = store.read_json(&parsed.config.digest)?;
        let offered = config.platform();
        anyhow::ensure!(
            offered.os == wanted.os && offered.architecture == wanted.architecture,
            "image with reference {reference} was found but does not match the specified \
             platform: wanted {}, actual: {}",
            strata_registry::platform_string(wanted),
            strata_registry::platform_string(&offered)
        );
    }
    for layer in &parsed.layers {
        progress.status(&layer.digest.hex()[..12], "Pulling fs layer");
    }
    for_each_parallel(&parsed.layers, PARALLEL_TRANSFERS, |layer| {
        let short = &layer.digest.hex()[..12];
        if fetch(layer, Some(short)).with_context(|| format!("pulling layer {}", layer.digest))? {
            progress.status(short, "Pull complete");
        } else {
            progress.status(short, "Already exists");
        }
        Ok(())
    })?;
    store.put_bytes(&manifest.bytes, Some(&manifest.digest))?;
    let descriptor = Descriptor::new(
        manifest.media_type.clone(),
        manifest.digest,
        manifest.bytes.len() as u64,
    );
    let mut names = Vec::new();
    if reference.digest().is_none() {
        names.push(reference.to_string());
    }
    names.push(format!("{}@{}", reference.name(), top.digest));
    let up_to_date = store
        .resolve(&names[0])?
        .is_some_and(|d| d.digest == descriptor.digest);
    store.update_index(|catalogue| {
        for name in &names {
            catalogue.tag(name, &descriptor)?;
        }
        Ok(())
    })?;
    drop(lease);
    Ok(Pulled {
        digest: top.digest,
        up_to_date,
    })
}

pub fn run(global: &Global, args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    let client = args.registry.client()?;
    let store = open_store(global)?;
    let progress = Transfers::new(global.progress, args.quiet);
    let references = if args.all_tags {
        anyhow::ensure!(
            reference.tag().is_none() && reference.digest().is_none(),
            "tag can't be used with --all-tags/-a"
        );
        let mut tags = client
            .list_tags(&reference)
            .with_context(|| format!("listing the tags of {}", reference.familiar_name()))
            .map_err(|e| with_login_hint(e, reference.domain()))?;
        tags.sort();
        tags.into_iter()
            .map(|t| Reference::parse(&format!("{}:{t}", reference.name())))
            .collect::<Result<Vec<_>, _>>()?
    } else if reference.digest().is_some() {
        vec![reference.clone()]
    } else {
        vec![reference.with_default_tag()]
    };
    let familiar = reference.familiar();
    if args.all_tags {
        progress.message(&format!("Pulling all tags of {}", familiar.familiar_name()));
    }
    for reference in &references {
        let familiar = reference.familiar();
        let what = reference.tag().or(reference.digest()).unwrap_or("latest");
        // docker names the repository path here, without the registry.
        progress.message(&format!("{what}: Pulling from {}", reference.path()));
        let pulled = pull_image(&store, &client, reference, platform.as_ref(), &progress)
            .with_context(|| format!("pulling {}", familiar.familiar_string()))
            .map_err(|e| with_login_hint(e, reference.domain()))?;
        progress.message(&format!("Digest: {}", pulled.digest));
        if pulled.up_to_date {
            progress.message(&format!(
                "Status: Image is up to date for {}",
                familiar.familiar_string()
            ));
        } else {
            progress.message(&format!(
                "Status: Downloaded newer image for {}",
                familiar.familiar_string()
            ));
        }
    }
    if args.all_tags {
        if !progress.json() {
            println!("{}", familiar.name());
        }
    } else if !progress.json() {
        println!("{}", references[0]);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pulls the images a build starts from or copies from (`FROM`, `COPY --from`) that the
/// store lacks; with `always` (`build --pull`) asks the registry for a newer manifest of
/// every one named by a registry reference. Progress goes to stderr. A Dockerfile that does
/// not compile is left to the build to report.
pub fn pull_build_images(
    store: &Store,
    registry: &RegistryArgs,
    request: &strata_builder::solver::BuildRequest,
    always: bool,
    progress: &Transfers,
) -> anyhow::Result<()> {
    let Ok(graph) = strata_builder::graph::compile(&request.dockerfile, &request.frontend) else {
        return Ok(());
    };
    let mut client = None;
    for external in &graph.external_images {
        let Ok(reference) = Reference::parse(&external.reference) else {
            continue;
        };
        let reference = if reference.digest().is_some() {
            reference
        } else {
            reference.with_default_tag()
        };
        let by_name = store.resolve(&reference.to_string())?.is_some();
        // An image the store knows by ID (or ID prefix) is never a registry name.
        let present =
            by_name || strata_builder::image::find_image(store, &external.reference).is_ok();
        if present && !(always && by_name) {
            continue;
        }
        let client = match &mut client {
            Some(c) => c,
            None => client.insert(registry.client()?),
        };
        let familiar = reference.familiar();
        let what = reference.tag().or(reference.digest()).unwrap_or("latest");
        // docker names the repository path here, without the registry.
        progress.message(&format!("{what}: Pulling from {}", reference.path()));
        let pulled = pull_image(store, client, &reference, None, progress)
            .with_context(|| format!("pulling {}", familiar.familiar_string()))
            .map_err(|e| with_login_hint(e, reference.domain()))?;
        progress.message(&format!("Digest: {}", pulled.digest));
        progress.message(&format!(
            "Status: {} for {}",
            if pulled.up_to_date {
                "Image is up to date"
            } else {
                "Downloaded newer image"
            },
            familiar.familiar_string()
        ));
    }
    Ok(())
}
