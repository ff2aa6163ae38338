//! What `inspect` and `history` show of an image, with docker's field names and columns.

use super::Image;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use strata_cache::oci::ContainerConfig;

fn rfc3339(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())
}

/// docker's `Config` object: every field present, null where unset, as `docker image inspect`.
fn container_config(config: Option<&ContainerConfig>) -> Value {
    let default = ContainerConfig::default();
    let c = config.unwrap_or(&default);
    let mut out = Map::new();
    let extra = |key: &str, fallback: Value| c.extra.get(key).cloned().unwrap_or(fallback);
    out.insert("Hostname".into(), extra("Hostname", json!("")));
    out.insert("Domainname".into(), extra("Domainname", json!("")));
    out.insert("User".into(), json!(c.user.clone().unwrap_or_default()));
    for key in ["AttachStdin", "AttachStdout", "AttachStderr"] {
        out.insert(key.into(), extra(key, json!(false)));
    }
    if let Some(ports) = &c.exposed_ports {
        out.insert("ExposedPorts".into(), json!(ports));
    }
    for key in ["Tty", "OpenStdin", "StdinOnce"] {
        out.insert(key.into(), extra(key, json!(false)));
    }
    out.insert("Env".into(), json!(c.env));
    out.insert("Cmd".into(), json!(c.cmd));
    if let Some(health) = &c.healthcheck {
        out.insert("Healthcheck".into(), json!(health));
    }
    if let Some(escaped) = c.args_escaped {
        out.insert("ArgsEscaped".into(), json!(escaped));
    }
    out.insert("Image".into(), extra("Image", json!("")));
    out.insert("Volumes".into(), json!(c.volumes));
    out.insert(
        "WorkingDir".into(),
        json!(c.working_dir.clone().unwrap_or_default()),
    );
    out.insert("Entrypoint".into(), json!(c.entrypoint));
    out.insert("OnBuild".into(), json!(c.on_build));
    out.insert("Labels".into(), json!(c.labels));
    if let Some(signal) = &c.stop_signal {
        out.insert("StopSignal".into(), json!(signal));
    }
    if let Some(shell) = &c.shell {
        out.insert("Shell".into(), json!(shell));
    }
    Value::Object(out)
}

/// One element of `inspect`'s JSON array, with docker's `image inspect` field names.
pub fn inspect_json(image: &Image) -> Value {
    let refs = image.references();
    let repo_tags: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_none())
        .map(|r| r.familiar_string())
        .collect();
    let repo_digests: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_some())
        .map(|r| r.familiar_string())
        .collect();
    let config = &image.config;
    let comment = config
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    let extra_str = |key: &str| config.extra.get(key).and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    out.insert("Id".into(), json!(image.id.to_string()));
    out.insert("RepoTags".into(), json!(repo_tags));
    out.insert("RepoDigests".into(), json!(repo_digests));
    out.insert("Parent".into(), json!(""));
    out.insert("Comment".into(), json!(comment));
    out.insert("Created".into(), json!(rfc3339(config.created)));
    out.insert("Container".into(), json!(extra_str("container")));
    out.insert("ContainerConfig".into(), container_config(None));
    out.insert("DockerVersion".into(), json!(extra_str("docker_version")));
    out.insert(
        "Author".into(),
        json!(config.author.clone().unwrap_or_default()),
    );
    out.insert("Config".into(), container_config(config.config.as_ref()));
    out.insert("Architecture".into(), json!(config.architecture));
    if let Some(variant) = &config.variant {
        out.insert("Variant".into(), json!(variant));
    }
    out.insert("Os".into(), json!(config.os));
    out.insert("Size".into(), json!(image.size()));
    out.insert("VirtualSize".into(), json!(image.size()));
    out.insert(
        "GraphDriver".into(),
        json!({"Data": null, "Name": "overlay"}),
    );
    let layers: Vec<String> = config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| d.to_string())
        .collect();
    out.insert("RootFS".into(), json!({"Type": "layers", "Layers": layers}));
    out.insert(
        "Metadata".into(),
        json!({"LastTagTime": rfc3339(image.entry.created)}),
    );
    out.insert("Descriptor".into(), json!(image.entry.descriptor));
    Value::Object(out)
}

/// One line of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID on the newest row, `<missing>` elsewhere (as docker shows pulled images).
    pub id: String,
    /// When the step ran.
    pub created: Option<DateTime<Utc>>,
    /// The instruction.
    pub created_by: String,
    /// The layer's blob size (0 for empty layers).
    pub size: u64,
    /// The comment.
    pub comment: String,
}

/// The rows of `history`, newest first, pairing non-empty history entries with layers.
pub fn history_rows(image: &Image) -> Vec<HistoryRow> {
    let mut layers = image.manifest.layers.iter();
    let mut rows: Vec<HistoryRow> = image
        .config
        .history
        .iter()
        .map(|h| {
            let size = if h.empty_layer {
                0
            } else {
                layers.next().map(|l| l.size).unwrap_or(0)
            };
            HistoryRow {
                id: "<missing>".into(),
                created: h.created,
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            }
        })
        .collect();
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = image.id.to_string();
    }
    rows
}
