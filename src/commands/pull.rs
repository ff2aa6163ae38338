//! `strata pull [--platform P] NAME[:TAG|@DIGEST]`: an image from a registry into the store,
//! every blob stored byte for byte (so the manifest digest, and the image ID, are kept).

use super::open_store;
use crate::cli::{Global, Progress};
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
/// `reference` and `repository@digest`. `say` receives docker's per-layer progress lines.
pub fn pull_image(
    store: &Store,
    client: &Client,
    reference: &Reference,
    requested: Option<&Platform>,
    say: &(dyn Fn(String) + Sync),
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
    let fetch = |d: &Descriptor| -> anyhow::Result<bool> {
        if store.has_blob(&d.digest)? && store.blob_size(&d.digest)? == d.size {
            return Ok(false);
        }
        let mut writer = store.blob_writer()?;
        client.get_blob(reference, &d.digest, Some(d.size), &mut writer)?;
        writer.commit(Some(&d.digest))?;
        Ok(true)
    };
    fetch(&parsed.config).context("pulling the image config")?;
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
    for_each_parallel(&parsed.layers, PARALLEL_TRANSFERS, |layer| {
        let short = &layer.digest.hex()[..12];
        if fetch(layer).with_context(|| format!("pulling layer {}", layer.digest))? {
            say(format!("{short}: Pull complete"));
        } else {
            say(format!("{short}: Already exists"));
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
    let reference = if reference.digest().is_some() {
        reference
    } else {
        reference.with_default_tag()
    };
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    let client = args.registry.client()?;
    let store = open_store(global)?;
    let quiet = args.quiet || global.progress == Progress::Quiet;
    let familiar = reference.familiar();
    if !quiet {
        let what = reference.tag().or(reference.digest()).unwrap_or("latest");
        println!("{what}: Pulling from {}", familiar.familiar_name());
    }
    let say = |line: String| {
        if !quiet {
            println!("{line}");
        }
    };
    let pulled = pull_image(&store, &client, &reference, platform.as_ref(), &say)
        .with_context(|| format!("pulling {}", familiar.familiar_string()))
        .map_err(|e| with_login_hint(e, reference.domain()))?;
    if !quiet {
        println!("Digest: {}", pulled.digest);
        if pulled.up_to_date {
            println!(
                "Status: Image is up to date for {}",
                familiar.familiar_string()
            );
        } else {
            println!(
                "Status: Downloaded newer image for {}",
                familiar.familiar_string()
            );
        }
    }
    println!("{reference}");
    Ok(ExitCode::SUCCESS)
}
