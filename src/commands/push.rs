//! `strata push NAME[:TAG] [DESTINATION]`: an image of the store to a registry, blobs
//! streamed from the store and skipped when the registry has them. Without
//! `--compression` the manifest is sent as stored, so its digest is the image's; with it,
//! layers stored in another compression are re-compressed once (the result is remembered in
//! the store) and the manifest names the new blobs.

use super::open_store;
use super::pull::{for_each_parallel, with_login_hint, RegistryArgs, PARALLEL_TRANSFERS};
use crate::cli::Global;
use crate::transfers::{Tracked, Transfers};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io;
use std::process::ExitCode;
use std::sync::mpsc;
use strata_builder::image::{find_image, Image};
use strata_builder::layer::{
    compression_name, compression_of_media_type, layer_variant, CompressedTee, LayerCompression,
};
use strata_cache::oci::media_type;
use strata_cache::{Descriptor, Digest, Store};
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
    pub options: PushOptions,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How layers go to the registry (shared with `build --push`).
#[derive(Debug, Clone, Args)]
pub struct PushOptions {
    /// Layer compression in the registry [default: as stored]; layers stored otherwise are
    /// re-compressed once and the result kept for the next push
    #[arg(
        long = "compression",
        value_enum,
        value_name = "gzip|zstd|none",
        id = "push_compression"
    )]
    pub compression: Option<PushCompression>,
    /// Compression level for re-compressed layers (gzip 0-9, zstd 1-22)
    #[arg(
        long = "compression-level",
        value_name = "N",
        id = "push_compression_level"
    )]
    pub compression_level: Option<i32>,
    /// Upload blobs of at least this size in chunks (PATCH), e.g. 256MiB
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_threshold: Option<u64>,
    /// Bytes per chunk of a chunked upload, e.g. 64MiB (0: every blob in one PUT)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_size: Option<u64>,
}

/// `--compression` of push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushCompression {
    /// gzip (every registry and runtime reads it)
    Gzip,
    /// zstd (OCI manifests only: a Docker manifest is converted)
    Zstd,
    /// Uncompressed tar
    None,
}

impl PushOptions {
    fn layer_compression(&self) -> Option<LayerCompression> {
        Some(match self.compression? {
            PushCompression::Gzip => {
                LayerCompression::Gzip(self.compression_level.unwrap_or(6).clamp(0, 9) as u32)
            }
            PushCompression::Zstd => {
                LayerCompression::Zstd(self.compression_level.unwrap_or(3).clamp(1, 22))
            }
            PushCompression::None => LayerCompression::None,
        })
    }

    /// Applies the chunking flags to client options.
    pub fn apply(&self, options: &mut strata_registry::ClientOptions) {
        if let Some(t) = self.chunk_threshold {
            options.chunk_threshold = t;
        }
        if let Some(s) = self.chunk_size {
            options.chunk_size = s;
        }
    }
}

/// `1234`, `64k`, `64KiB`, `256MiB`, `1G`, `1GB` (binary multiples, as docker's
/// `--shm-size` reads them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number of bytes"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("invalid size {text:?}: unknown unit {unit:?}")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// What [`push_image`] sent.
pub struct Pushed {
    /// The manifest digest in the registry.
    pub digest: Digest,
    /// The manifest's size.
    pub size: usize,
}

/// Pushes `image` to `dest` with its layers in `options`' compression, showing per-layer
/// progress on `progress`.
pub fn push_image(
    store: &Store,
    client: &Client,
    image: &Image,
    dest: &Reference,
    options: &PushOptions,
    progress: &Transfers,
) -> anyhow::Result<Pushed> {
    progress.message(&format!("The push refers to repository [{}]", dest.name()));
    // Another name of the image in the same registry most likely holds its blobs: ask for
    // mounts from there instead of uploading again.
    let mount_from = image
        .references()
        .into_iter()
        .find(|r| r.domain() == dest.domain() && r.path() != dest.path())
        .map(|r| r.path().to_string());

    // Keep the blobs (and the variants made below) from GC until the push ends.
    let lease = store.lease()?;
    let stored = &image.manifest.layers;
    let diff_ids = &image.config.rootfs.diff_ids;
    let wanted = options.layer_compression();
    let ids: Vec<String> = stored
        .iter()
        .map(|l| l.digest.hex()[..12].to_string())
        .collect();
    for id in ids.iter().rev() {
        progress.status(id, "Preparing");
    }
    // The layers as they will be pushed, made on the transfer threads.
    let pushed: Vec<std::sync::Mutex<Option<Descriptor>>> =
        stored.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let order: Vec<usize> = (0..stored.len()).rev().collect();
    for_each_parallel(&order, PARALLEL_TRANSFERS, |&i| {
        let (layer, id) = (&stored[i], &ids[i]);
        let convert = wanted.filter(|c| {
            compression_of_media_type(&layer.media_type).is_some_and(|s| s != compression_name(*c))
        });
        let (blob, how) = match convert {
            Some(compression) => {
                let diff_id = diff_ids
                    .get(i)
                    .with_context(|| format!("the image config lists no diffID for layer {i}"))?;
                convert_and_push(
                    store,
                    client,
                    dest,
                    layer,
                    diff_id,
                    compression,
                    mount_from.as_deref(),
                    id,
                    progress,
                )?
            }
            None => {
                let how = push_blob(
                    store,
                    client,
                    dest,
                    layer,
                    mount_from.as_deref(),
                    id,
                    progress,
                )
                .with_context(|| format!("pushing layer {}", layer.digest))?;
                (layer.clone(), how)
            }
        };
        progress.status(
            id,
            &match how {
                BlobPush::Exists => "Layer already exists".to_string(),
                BlobPush::Mounted => {
                    format!("Mounted from {}", mount_from.as_deref().unwrap_or(""))
                }
                BlobPush::Uploaded => "Pushed".to_string(),
            },
        );
        *pushed[i].lock().expect("layer slot") = Some(blob);
        Ok(())
    })?;
    let layers: Vec<Descriptor> = pushed
        .into_iter()
        .map(|slot| slot.into_inner().expect("layer slot").expect("pushed"))
        .collect();
    push_blob(
        store,
        client,
        dest,
        &image.manifest.config,
        mount_from.as_deref(),
        "config",
        &Transfers::new(crate::cli::Progress::Quiet, true),
    )
    .context("pushing the image config")?;
    let descriptor = &image.entry.descriptor;
    let stored_bytes = store.read_blob(&descriptor.digest)?;
    let (manifest_type, bytes) = if layers == *stored {
        (descriptor.media_type.clone(), stored_bytes)
    } else {
        convert_manifest(&stored_bytes, &descriptor.media_type, &layers)?
    };
    let digest = client
        .put_manifest(dest, &manifest_type, &bytes)
        .context("pushing the manifest")?;
    let repo_digest = format!("{}@{digest}", dest.name());
    // docker records the pushed digest as a RepoDigest (once: an index write costs an fsync).
    if digest == descriptor.digest
        && store.resolve(&repo_digest)?.map(|d| d.digest) != Some(descriptor.digest)
    {
        store.tag(&repo_digest, descriptor)?;
    }
    drop(lease);
    Ok(Pushed {
        digest,
        size: bytes.len(),
    })
}

/// Pushes `layer` in `compression`: the variant the store remembers, or, the first time,
/// made and uploaded at once (the compressed bytes go to the store and to the registry as
/// they come out; the digest, known at the end, closes the upload). When that upload fails
/// the finished variant is pushed the ordinary way.
#[allow(clippy::too_many_arguments)]
fn convert_and_push(
    store: &Store,
    client: &Client,
    dest: &Reference,
    layer: &Descriptor,
    diff_id: &Digest,
    compression: LayerCompression,
    mount_from: Option<&str>,
    id: &str,
    progress: &Transfers,
) -> anyhow::Result<(Descriptor, BlobPush)> {
    let total = layer.size;
    let name = compression_name(compression);
    if let Some(variant) = store.variant_get(diff_id, name)? {
        let how = push_blob(store, client, dest, &variant.blob, mount_from, id, progress)
            .with_context(|| format!("pushing layer {}", variant.blob.digest))?;
        return Ok((variant.blob, how));
    }
    let report = |n: u64| progress.bytes(id, "Pushing", n, Some(total));
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4);
    let (done_tx, done_rx) = mpsc::channel::<Option<Digest>>();
    let (made, streamed) = std::thread::scope(|scope| {
        let upload = scope.spawn(move || {
            let mut body = ChannelReader {
                rx,
                chunk: Vec::new(),
                at: 0,
            };
            client.push_blob_stream(dest, &mut body, &mut || done_rx.recv().ok().flatten())
        });
        let mut tee = ChannelTee {
            tx: Some(tx),
            done: Some(done_tx),
        };
        let made = layer_variant(
            store,
            layer,
            diff_id,
            compression,
            0,
            &report,
            Some(&mut tee),
        );
        drop(tee);
        (made, upload.join().expect("the upload thread panicked"))
    });
    let (variant, _) = made.with_context(|| format!("re-compressing layer {}", layer.digest))?;
    match streamed {
        Ok(()) => Ok((variant.blob, BlobPush::Uploaded)),
        Err(e) => {
            tracing::info!("uploading while compressing failed ({e}); pushing the stored result");
            let how = push_blob(store, client, dest, &variant.blob, mount_from, id, progress)
                .with_context(|| format!("pushing layer {}", variant.blob.digest))?;
            Ok((variant.blob, how))
        }
    }
}

/// The compressing side of a streamed upload: bytes into the channel (dropped for good when
/// the upload gave up), then the verdict.
struct ChannelTee {
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    done: Option<mpsc::Sender<Option<Digest>>>,
}

impl CompressedTee for ChannelTee {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(tx) = &self.tx {
            if tx.send(bytes.to_vec()).is_err() {
                self.tx = None;
            }
        }
    }

    fn finish(&mut self, digest: Option<Digest>) {
        // End of body first, so the PATCH completes, then the digest for the PUT.
        self.tx = None;
        if let Some(done) = self.done.take() {
            let _ = done.send(digest);
        }
    }
}

/// The uploading side: the channel's buffers as one stream.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The stored manifest with `layers` in place of its layers. A Docker manifest stays one
/// when every layer is gzip; otherwise (Docker schema 2 has no zstd or plain-tar layer type)
/// it becomes an OCI manifest, config type included.
fn convert_manifest(
    stored: &[u8],
    stored_type: &str,
    layers: &[Descriptor],
) -> anyhow::Result<(String, Vec<u8>)> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(stored).context("parsing the stored manifest")?;
    let docker = stored_type == media_type::DOCKER_MANIFEST;
    let all_gzip = layers
        .iter()
        .all(|l| compression_of_media_type(&l.media_type) == Some("gzip"));
    let to_oci = docker && !all_gzip;
    let layer_type = |d: &Descriptor| -> String {
        let compression = compression_of_media_type(&d.media_type);
        match compression {
            Some("gzip") if docker && !to_oci => media_type::DOCKER_LAYER_TAR_GZIP.to_string(),
            Some("gzip") => media_type::OCI_LAYER_TAR_GZIP.to_string(),
            Some("zstd") => media_type::OCI_LAYER_TAR_ZSTD.to_string(),
            Some(_) => media_type::OCI_LAYER_TAR.to_string(),
            None => d.media_type.clone(),
        }
    };
    let entries = doc
        .get_mut("layers")
        .and_then(|l| l.as_array_mut())
        .context("the stored manifest has no layers")?;
    anyhow::ensure!(entries.len() == layers.len(), "the stored manifest changed");
    for (entry, layer) in entries.iter_mut().zip(layers) {
        entry["mediaType"] = layer_type(layer).into();
        entry["digest"] = layer.digest.to_string().into();
        entry["size"] = layer.size.into();
    }
    let manifest_type = if to_oci {
        doc["mediaType"] = media_type::OCI_MANIFEST.into();
        if doc["config"]["mediaType"] == media_type::DOCKER_CONFIG {
            doc["config"]["mediaType"] = media_type::OCI_CONFIG.into();
        }
        media_type::OCI_MANIFEST.to_string()
    } else {
        stored_type.to_string()
    };
    Ok((manifest_type, serde_json::to_vec(&doc)?))
}

/// Pushes one blob of the store, its bytes shown under `id`.
fn push_blob(
    store: &Store,
    client: &Client,
    dest: &Reference,
    blob: &Descriptor,
    mount_from: Option<&str>,
    id: &str,
    progress: &Transfers,
) -> anyhow::Result<BlobPush> {
    let total = blob.size;
    let mut open = || {
        let file = store.open_blob(&blob.digest).map_err(io::Error::other)?;
        Ok(Tracked::new(file, move |n| {
            progress.bytes(id, "Pushing", n, Some(total))
        }))
    };
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
    let mut client_options = args.registry.options();
    args.options.apply(&mut client_options);
    let client = Client::new(client_options)?;
    let store = open_store(global)?;
    let image = find_image(&store, &args.reference)?;
    let progress = Transfers::new(global.progress, args.quiet);
    let pushed = push_image(&store, &client, &image, &dest, &args.options, &progress)?;
    print_pushed(&progress, &dest, &pushed);
    Ok(ExitCode::SUCCESS)
}

/// Pushes every tag of a build (`build --push`), layers as stored; progress on stderr.
pub fn push_tags(
    store: &Store,
    registry: &RegistryArgs,
    tags: &[String],
    progress: &Transfers,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !tags.is_empty(),
        "--push needs a name for the image (-t NAME[:TAG])"
    );
    let client = registry.client()?;
    let options = PushOptions {
        compression: None,
        compression_level: None,
        chunk_threshold: None,
        chunk_size: None,
    };
    for tag in tags {
        let dest = Reference::parse(tag)?.with_default_tag();
        let image = find_image(store, tag)?;
        let pushed = push_image(store, &client, &image, &dest, &options, progress)
            .with_context(|| format!("pushing {}", dest.familiar().familiar_string()))
            .map_err(|e| with_login_hint(e, dest.domain()))?;
        if !progress.quiet() {
            print_pushed(progress, &dest, &pushed);
        }
    }
    Ok(())
}

/// docker's last line of a push, `TAG: digest: DIGEST size: N` (an object in json).
pub fn print_pushed(progress: &Transfers, dest: &Reference, pushed: &Pushed) {
    let tag = dest.tag().or(dest.digest()).unwrap_or("latest");
    let line = format!("{tag}: digest: {} size: {}", pushed.digest, pushed.size);
    if progress.json() {
        let aux = serde_json::json!({
            "Tag": tag, "Digest": pushed.digest.to_string(), "Size": pushed.size,
        });
        progress.message_with(&line, Some(aux));
    } else if progress.quiet() {
        // `push -q` still says what it pushed, as docker does.
        println!("{line}");
    } else {
        progress.message(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("12x").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn docker_manifest_with_zstd_layers_becomes_oci() {
        let d = Digest::of_bytes(b"x");
        let stored = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST,
            "config": {"mediaType": media_type::DOCKER_CONFIG, "digest": d.to_string(), "size": 1},
            "layers": [{"mediaType": media_type::DOCKER_LAYER_TAR_GZIP, "digest": d.to_string(), "size": 1}],
        });
        let bytes = serde_json::to_vec(&stored).unwrap();
        let z = Digest::of_bytes(b"z");
        let zstd = [Descriptor::new(media_type::OCI_LAYER_TAR_ZSTD, z, 7)];
        let (mt, out) = convert_manifest(&bytes, media_type::DOCKER_MANIFEST, &zstd).unwrap();
        assert_eq!(mt, media_type::OCI_MANIFEST);
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["mediaType"], media_type::OCI_MANIFEST);
        assert_eq!(doc["config"]["mediaType"], media_type::OCI_CONFIG);
        assert_eq!(
            doc["layers"][0]["mediaType"],
            media_type::OCI_LAYER_TAR_ZSTD
        );
        assert_eq!(doc["layers"][0]["digest"], z.to_string());
        assert_eq!(doc["layers"][0]["size"], 7);
        // gzip layers keep a Docker manifest Docker.
        let gz = [Descriptor::new(media_type::OCI_LAYER_TAR_GZIP, z, 7)];
        let (mt, out) = convert_manifest(&bytes, media_type::DOCKER_MANIFEST, &gz).unwrap();
        assert_eq!(mt, media_type::DOCKER_MANIFEST);
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc["layers"][0]["mediaType"],
            media_type::DOCKER_LAYER_TAR_GZIP
        );
        assert_eq!(doc["config"]["mediaType"], media_type::DOCKER_CONFIG);
    }
}
