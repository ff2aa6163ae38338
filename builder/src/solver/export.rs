//! The target stage as an image: config (the front end's view over the base's), history,
//! manifest; recorded and tagged in the store.

use super::stage::StageResult;
use super::{BuildShared, SolveError};
use crate::graph::{HistoryEntry, ImageConfig as GraphConfig};
use chrono::{DateTime, TimeZone, Utc};
use strata_cache::oci::{media_type, ContainerConfig, Empty, ImageConfig, ImageManifest, RootFs};
use strata_cache::{Descriptor, Digest};

/// `SOURCE_DATE_EPOCH` when set, the current time otherwise.
pub fn timestamp(source_date_epoch: Option<i64>) -> DateTime<Utc> {
    source_date_epoch
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .unwrap_or_else(Utc::now)
}

/// An image config as the front end reads it (for `FROM image`).
pub fn to_graph_config(config: &ImageConfig) -> GraphConfig {
    let c = config.config.clone().unwrap_or_default();
    GraphConfig {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone().unwrap_or_default(),
        author: config.author.clone().unwrap_or_default(),
        user: c.user.unwrap_or_default(),
        env: c.env.unwrap_or_default(),
        cmd: c.cmd,
        entrypoint: c.entrypoint,
        working_dir: c.working_dir.unwrap_or_default(),
        labels: c.labels.unwrap_or_default(),
        exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
        volumes: c.volumes.unwrap_or_default().into_keys().collect(),
        stop_signal: c.stop_signal.unwrap_or_default(),
        healthcheck: c
            .healthcheck
            .map(|h| crate::dockerfile::instructions::Healthcheck {
                test: h.test,
                interval: nanos(h.interval),
                timeout: nanos(h.timeout),
                start_period: nanos(h.start_period),
                start_interval: nanos(h.start_interval),
                retries: h.retries.unwrap_or(0),
            }),
        shell: c.shell.unwrap_or_default(),
        on_build: c.on_build.unwrap_or_default(),
        args_escaped: c.args_escaped.unwrap_or(false),
        history: config
            .history
            .iter()
            .map(|h| HistoryEntry {
                created_by: h.created_by.clone().unwrap_or_default(),
                empty_layer: h.empty_layer,
            })
            .collect(),
    }
}

fn nanos(n: Option<i64>) -> std::time::Duration {
    std::time::Duration::from_nanos(n.unwrap_or(0).max(0) as u64)
}

fn container_config(
    g: &GraphConfig,
    labels: &std::collections::BTreeMap<String, String>,
) -> ContainerConfig {
    let opt_str = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut all_labels = g.labels.clone();
    all_labels.extend(labels.clone());
    let mut env = g.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        // BuildKit gives every image a PATH, as docker's daemon does for containers.
        env.insert(0, format!("PATH={}", super::run::DEFAULT_PATH));
    }
    ContainerConfig {
        user: opt_str(&g.user),
        env: Some(env),
        cmd: g.cmd.clone(),
        entrypoint: g.entrypoint.clone(),
        working_dir: opt_str(&g.working_dir),
        labels: (!all_labels.is_empty()).then_some(all_labels),
        exposed_ports: (!g.exposed_ports.is_empty()).then(|| {
            g.exposed_ports
                .iter()
                .map(|p| (p.clone(), Empty {}))
                .collect()
        }),
        volumes: (!g.volumes.is_empty())
            .then(|| g.volumes.iter().map(|p| (p.clone(), Empty {})).collect()),
        stop_signal: opt_str(&g.stop_signal),
        healthcheck: g.healthcheck.as_ref().map(crate::image::healthcheck_to_oci),
        on_build: (!g.on_build.is_empty()).then(|| g.on_build.clone()),
        shell: (!g.shell.is_empty()).then(|| g.shell.clone()),
        args_escaped: None,
        extra: Default::default(),
    }
}

/// Writes the config and manifest of `result` (the target stage), records and tags it.
pub fn export(
    shared: &BuildShared<'_>,
    result: &StageResult,
) -> Result<(Descriptor, Digest), SolveError> {
    let store = shared.store;
    let stage = shared.graph.target_stage();
    let g = &stage.config;
    let created = match shared.request.source_date_epoch {
        Some(_) => timestamp(shared.request.source_date_epoch),
        None => result.created.unwrap_or_else(Utc::now),
    };
    let config = ImageConfig {
        created: Some(created),
        author: (!g.author.is_empty()).then(|| g.author.clone()),
        architecture: g.architecture.clone(),
        os: g.os.clone(),
        variant: (!g.variant.is_empty()).then(|| g.variant.clone()),
        config: Some(container_config(g, &shared.request.labels)),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: result.layers.iter().map(|l| l.diff_id).collect(),
        },
        history: result.history.clone(),
        ..Default::default()
    };
    let (config_digest, config_size) = store.put_json(&config)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
        layers: result.layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: None,
        annotations: Default::default(),
    };
    let (digest, size) = store.put_json(&manifest)?;
    let descriptor = Descriptor::new(media_type::OCI_MANIFEST, digest, size);
    store.update_index(|catalogue| {
        if shared.request.tags.is_empty() {
            catalogue.add_image(&descriptor)?;
        }
        for name in &shared.request.tags {
            catalogue.tag(name, &descriptor)?;
        }
        Ok(())
    })?;
    Ok((descriptor, config_digest))
}
