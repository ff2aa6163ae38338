//! `commit`: a container's overlay upper dir becomes one more layer on its image, written the
//! way a RUN step's upper dir is (overlay whiteouts and opaque directories converted, the
//! runtime's mount-point stubs left out, a renamed directory written whole), with docker's
//! config merge and history entry.
//!
//! Store writes follow the store's rules: the layer blob, config and manifest are each
//! streamed to a temp file, verified, fsynced and renamed; the catalogue is updated last, in
//! one atomic step, under a lease that keeps GC away. A command killed half-way leaves at
//! most temp files and unreferenced blobs, which `system check --repair` removes.

use super::diff::{runtime_stubs, MOUNT_POINTS};
use super::{Container, ContainerError, ContainerStore, Status};
use crate::image::{apply_changes, Image, ImageError};
use crate::layer::{write_upper_layer, LayerCompression, LayerOptions, LayerWriteError};
use crate::solver::rootfs::{snapshots, LayerRef};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_cache::oci::{media_type, ContainerConfig, History, ImageConfig, ImageManifest};
use strata_cache::{Descriptor, Digest, Store};

/// The diffID of a layer with no entries (1024 zero bytes): docker records no layer for it.
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Why a commit or an export failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A `-c` change was refused.
    #[error(transparent)]
    Change(#[from] crate::dockerfile::instructions::FrontendError),
    /// The upper dir could not be written as a layer.
    #[error("writing the container's layer: {0}")]
    Layer(#[from] LayerWriteError),
    /// The image's layers could not be unpacked.
    #[error("unpacking the image's layers: {0}")]
    Snapshot(String),
    /// The image's layer list and config disagree.
    #[error("image {0}: the manifest and the config list different numbers of layers")]
    LayerMismatch(String),
    /// The container could not be used.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Reading the container's files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The overlay lower dirs of `image` (its layers unpacked once, shared with builds), bottom
/// first.
pub fn image_lowers(store: &Store, image: &Image) -> Result<Vec<PathBuf>, CommitError> {
    base_lowers(store, &image.manifest, &image.config)
}

/// The overlay lower dirs of the image with this manifest and config, bottom first.
pub fn base_lowers(
    store: &Store,
    manifest: &ImageManifest,
    config: &ImageConfig,
) -> Result<Vec<PathBuf>, CommitError> {
    let layers = &manifest.layers;
    let diff_ids = &config.rootfs.diff_ids;
    if layers.len() != diff_ids.len() {
        return Err(CommitError::LayerMismatch(
            manifest.config.digest.to_string(),
        ));
    }
    let refs: Vec<LayerRef> = layers
        .iter()
        .zip(diff_ids)
        .map(|(d, id)| LayerRef {
            descriptor: d.clone(),
            diff_id: *id,
        })
        .collect();
    snapshots(store, &refs).map_err(|e| CommitError::Snapshot(e.to_string()))
}

/// The default mount-point candidates as paths, plus `extra` (stubs a container recorded).
pub fn stub_candidates(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = MOUNT_POINTS.iter().map(PathBuf::from).collect();
    out.extend(extra.iter().cloned());
    out
}

/// What to commit a container with.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// The container's config: its image's config with the container's own settings
    /// (command, environment, ...) applied, as docker keeps `container.Config`.
    pub container_config: ContainerConfig,
    /// The container's ID (recorded as the config's `container`, as docker does).
    pub container_id: Option<String>,
    /// `-c` changes, Dockerfile instructions.
    pub changes: Vec<String>,
    /// `-m`: the history comment.
    pub message: Option<String>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// Names to tag the image with (normalized references); none leaves it dangling.
    pub tags: Vec<String>,
    /// The image's creation time.
    pub created: DateTime<Utc>,
    /// The new layer's compression.
    pub compression: LayerCompression,
    /// Paths (relative) a runtime may have made mount-point stubs of; see
    /// [`stub_candidates`].
    pub stub_candidates: Vec<PathBuf>,
}

/// What `commit_container` recorded.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The image ID (config digest).
    pub id: Digest,
    /// The manifest (recorded in the catalogue).
    pub manifest: Descriptor,
    /// The new layer's diffID; None when the container changed nothing (no layer added).
    pub diff_id: Option<Digest>,
}

/// docker's `merge(userConf, imageConf)` of `commit`: the config built from the changes
/// wins; what it leaves unset comes from the container's config (environment and labels
/// merged by key, ports and volumes unioned, the command only when the changes set neither
/// command nor entrypoint).
pub fn merge_config(user: &mut ContainerConfig, container: &ContainerConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = container.user.clone();
    }
    match (&mut user.exposed_ports, &container.exposed_ports) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for (k, v) in theirs {
                mine.entry(k.clone()).or_insert(*v);
            }
        }
        (_, theirs) => {
            if user.exposed_ports.as_ref().is_none_or(|m| m.is_empty()) {
                user.exposed_ports = theirs.clone();
            }
        }
    }
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    match user.env.as_mut() {
        Some(env) if !env.is_empty() => {
            for e in container.env.iter().flatten() {
                if !env.iter().any(|u| key(u) == key(e)) {
                    env.push(e.clone());
                }
            }
        }
        _ => user.env = container.env.clone(),
    }
    if let Some(theirs) = &container.labels {
        let labels = user.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in theirs {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = container.cmd.clone();
            user.args_escaped = container.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = container.entrypoint.clone();
        }
    }
    match (&mut user.healthcheck, &container.healthcheck) {
        (None, theirs) => user.healthcheck = theirs.clone(),
        (Some(mine), Some(theirs)) => {
            if mine.test.is_empty() {
                mine.test = theirs.test.clone();
            }
            mine.interval = mine.interval.or(theirs.interval);
            mine.timeout = mine.timeout.or(theirs.timeout);
            mine.start_period = mine.start_period.or(theirs.start_period);
            mine.start_interval = mine.start_interval.or(theirs.start_interval);
            mine.retries = mine.retries.or(theirs.retries);
        }
        (Some(_), None) => {}
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = container.working_dir.clone();
    }
    match (&mut user.volumes, &container.volumes) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for (k, v) in theirs {
                mine.insert(k.clone(), *v);
            }
        }
        (_, theirs) => {
            if user.volumes.as_ref().is_none_or(|m| m.is_empty()) {
                user.volumes = theirs.clone();
            }
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = container.stop_signal.clone();
    }
}

/// The history entry's `created_by`: the container's command joined by spaces, as docker
/// writes `strings.Join(ContainerConfig.Cmd, " ")`.
pub fn created_by(container: &ContainerConfig) -> String {
    container.cmd.clone().unwrap_or_default().join(" ")
}

/// The image a container runs: its manifest and config.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfig,
}

impl From<&Image> for BaseImage {
    fn from(image: &Image) -> BaseImage {
        BaseImage {
            manifest: image.manifest.clone(),
            config: image.config.clone(),
        }
    }
}

/// Commits the container whose overlay upper dir is `upper`, running on `image`, into a new
/// image (see the module comment). The upper dir is only read.
pub fn commit_container(
    store: &Store,
    image: &BaseImage,
    upper: &Path,
    opts: &CommitOptions,
) -> Result<Committed, CommitError> {
    // The config first: a refused change fails before anything is written.
    let mut config = ContainerConfig::default();
    apply_changes(&mut config, &opts.changes)?;
    merge_config(&mut config, &opts.container_config);

    let lease = store.lease()?;
    let lowers = base_lowers(store, &image.manifest, &image.config)?;
    let stubs =
        runtime_stubs(&lowers, upper, &opts.stub_candidates).map_err(|e| CommitError::Io {
            context: format!("reading {}", upper.display()),
            source: e,
        })?;
    let layer_opts = LayerOptions {
        compression: opts.compression,
        overlay_whiteouts: true,
        diff_id_from_blob: true,
        ..LayerOptions::default()
    };
    let mut writer = store.blob_writer()?;
    let info = write_upper_layer(upper, &lowers, &stubs, &layer_opts, &mut writer)?;
    // No entries: the tar is the end-of-archive marker alone, whose diffID is the empty layer's.
    let new_layer = if info.entries == 0 {
        // Dropping the writer removes its temp file.
        drop(writer);
        None
    } else {
        let (digest, size) = writer.commit(None)?;
        let diff_id = info.diff_id_or_blob(&digest);
        Some((
            Descriptor::new(opts.compression.media_type(), digest, size),
            diff_id,
        ))
    };

    let base = &image.config;
    let mut diff_ids = base.rootfs.diff_ids.clone();
    let mut layers = image.manifest.layers.clone();
    if let Some((layer, diff_id)) = &new_layer {
        diff_ids.push(*diff_id);
        layers.push(layer.clone());
    }
    let mut history = base.history.clone();
    history.push(History {
        created: Some(opts.created),
        created_by: Some(created_by(&opts.container_config)),
        author: opts.author.clone().filter(|a| !a.is_empty()),
        comment: opts.message.clone().filter(|m| !m.is_empty()),
        empty_layer: new_layer.is_none(),
    });
    let mut extra = serde_json::Map::new();
    if let Some(id) = &opts.container_id {
        extra.insert("container".into(), serde_json::Value::String(id.clone()));
    }
    if let Some(m) = opts.message.as_ref().filter(|m| !m.is_empty()) {
        extra.insert("comment".into(), serde_json::Value::String(m.clone()));
    }
    let new_config = ImageConfig {
        created: Some(opts.created),
        author: opts.author.clone().filter(|a| !a.is_empty()),
        architecture: base.architecture.clone(),
        os: base.os.clone(),
        os_version: base.os_version.clone(),
        os_features: base.os_features.clone(),
        variant: base.variant.clone(),
        config: Some(config),
        rootfs: strata_cache::oci::RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        history,
        extra,
    };
    let (config_digest, config_size) = store.put_json(&new_config)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
        layers,
        subject: None,
        annotations: Default::default(),
    };
    let (manifest_digest, manifest_size) = store.put_json(&manifest)?;
    let descriptor = Descriptor::new(media_type::OCI_MANIFEST, manifest_digest, manifest_size);
    store.update_index(|catalogue| {
        if opts.tags.is_empty() {
            catalogue.add_image(&descriptor)?;
        }
        for name in &opts.tags {
            catalogue.tag(name, &descriptor)?;
        }
        Ok(())
    })?;
    drop(lease);
    Ok(Committed {
        id: config_digest,
        manifest: descriptor,
        diff_id: new_layer.map(|(_, diff_id)| diff_id),
    })
}

/// The container's config as docker keeps `container.Config`: the image's config with what
/// the container was created with (entrypoint, command, environment, working directory,
/// user, labels, stop signal).
pub fn container_oci_config(image: &ImageConfig, c: &super::ContainerConfig) -> ContainerConfig {
    let mut out = image.config.clone().unwrap_or_default();
    let vec_or_none = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let str_or_none = |s: &str| (!s.is_empty()).then(|| s.to_string());
    out.entrypoint = vec_or_none(&c.entrypoint);
    out.cmd = vec_or_none(&c.cmd);
    out.env = vec_or_none(&c.env);
    out.working_dir = str_or_none(&c.workdir).or(out.working_dir);
    out.user = str_or_none(&c.user).or(out.user);
    out.stop_signal = str_or_none(&c.stop_signal).or(out.stop_signal);
    if !c.labels.is_empty() {
        out.labels = Some(c.labels.clone());
    }
    out
}

/// The image a container was created from.
pub fn container_image(store: &Store, c: &Container) -> Result<BaseImage, CommitError> {
    let manifest = store.manifest(&c.record.image.digest)?;
    let config = store.config(&manifest)?;
    Ok(BaseImage { manifest, config })
}

/// Mount-point candidates of a container: the runtime's and its volumes' targets.
pub fn container_stub_candidates(c: &Container) -> Vec<PathBuf> {
    let volumes: Vec<PathBuf> = c
        .config
        .volumes
        .iter()
        .map(|v| v.destination.trim_start_matches('/').into())
        .collect();
    stub_candidates(&volumes)
}

/// What `commit` of a container asks for (see [`CommitOptions`] for the fields).
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// `-c` changes.
    pub changes: Vec<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// Normalized names to tag the image with.
    pub tags: Vec<String>,
    /// `-p`: freeze a running container while its files are read.
    pub pause: bool,
    /// The image's creation time.
    pub created: DateTime<Utc>,
    /// The new layer's compression.
    pub compression: LayerCompression,
}

/// `commit CONTAINER`: finds the container, freezes it while its upper dir is read when it
/// runs and `pause` is asked (and the cgroup freezer is there), and commits it.
pub fn commit(
    containers: &ContainerStore,
    query: &str,
    req: &CommitRequest,
) -> Result<Committed, CommitError> {
    // A refused change fails before the container is touched.
    crate::image::config_with_changes(&req.changes)?;
    let store = containers.store();
    let c = containers.find(query)?;
    let image = container_image(store, &c)?;
    let opts = CommitOptions {
        container_config: container_oci_config(&image.config, &c.config),
        container_id: Some(c.id().to_string()),
        changes: req.changes.clone(),
        message: req.message.clone(),
        author: req.author.clone(),
        tags: req.tags.clone(),
        created: req.created,
        compression: req.compression,
        stub_candidates: container_stub_candidates(&c),
    };
    let id = c.id().to_string();
    let paused = req.pause
        && c.state.status == Status::Running
        && super::pause::pause(containers, &id).is_ok();
    let result = commit_container(store, &image, &c.upper_dir(store), &opts);
    let thawed = match paused {
        true => super::pause::unpause(containers, &id),
        false => Ok(()),
    };
    let committed = result?;
    thawed?;
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_cache::oci::Empty;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn changes_win_and_the_container_fills_in() {
        let container = ContainerConfig {
            cmd: strings(&["sh", "-c", "x"]),
            entrypoint: strings(&["/init"]),
            env: strings(&["PATH=/bin", "A=old", "X=1"]),
            user: Some("app".into()),
            working_dir: Some("/srv".into()),
            labels: Some([("a".to_string(), "1".to_string())].into()),
            exposed_ports: Some([("80/tcp".to_string(), Empty {})].into()),
            ..Default::default()
        };
        let mut user = ContainerConfig::default();
        apply_changes(
            &mut user,
            &["ENV A=b".into(), "LABEL b=2".into(), "EXPOSE 443".into()],
        )
        .unwrap();
        merge_config(&mut user, &container);
        assert_eq!(user.env, strings(&["A=b", "PATH=/bin", "X=1"]));
        assert_eq!(user.cmd, container.cmd);
        assert_eq!(user.entrypoint, container.entrypoint);
        assert_eq!(user.user.as_deref(), Some("app"));
        assert_eq!(user.working_dir.as_deref(), Some("/srv"));
        assert_eq!(user.labels.as_ref().unwrap().len(), 2);
        let ports: Vec<&String> = user.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, ["443/tcp", "80/tcp"]);

        // An ENTRYPOINT change drops the container's command; a CMD change keeps its entrypoint.
        let mut user = ContainerConfig::default();
        apply_changes(&mut user, &[r#"ENTRYPOINT ["/other"]"#.into()]).unwrap();
        merge_config(&mut user, &container);
        assert_eq!((user.entrypoint, user.cmd), (strings(&["/other"]), None));
        let mut user = ContainerConfig::default();
        apply_changes(&mut user, &[r#"CMD ["cat","/x"]"#.into()]).unwrap();
        merge_config(&mut user, &container);
        assert_eq!(user.cmd, strings(&["cat", "/x"]));
        assert_eq!(user.entrypoint, container.entrypoint);
        assert_eq!(created_by(&container), "sh -c x");
    }
}
