//! `create`: a record, an empty upper dir on the image's layer snapshots, and the resolved
//! configuration (image defaults overridden by the flags, as docker resolves them).

use super::{
    names, Container, ContainerConfig, ContainerError, ContainerState, ContainerStore, Network,
    RestartPolicy, Result, Volume,
};
use crate::image::find_image;
use crate::solver::rootfs;
use chrono::Utc;
use std::path::PathBuf;
use strata_cache::{ContainerId, ContainerRecord, Store, CONTAINER_RECORD_VERSION};

/// The flags of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The image, as the user names it.
    pub image: String,
    /// `--name`; generated when None.
    pub name: Option<String>,
    /// The command after the image (replaces the image's CMD when not empty).
    pub cmd: Vec<String>,
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// `-e KEY=VALUE` or `-e KEY` (taken from this environment when set).
    pub env: Vec<String>,
    /// `--env-file`: `KEY=VALUE` lines; `#` comments and blank lines skipped.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-v HOST:CONTAINER[:ro]`.
    pub volumes: Vec<String>,
    /// `--network none|host`.
    pub network: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--restart`.
    pub restart: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `-p`.
    pub publish: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--memory`, `--cpus`, ... (already parsed).
    pub resources: crate::cgroup::Resources,
    /// `--ulimit`.
    pub ulimits: Vec<String>,
}

/// The network of a container created without `--network`: `bridge` as docker, unless
/// `STRATA_DEFAULT_NETWORK` names another (`none` keeps a test suite off the host's
/// network).
pub fn default_network() -> String {
    std::env::var("STRATA_DEFAULT_NETWORK")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "bridge".into())
}

/// Creates a container from `opts` and returns it (state `created`).
pub fn create(store: &Store, opts: &CreateOptions) -> Result<Container> {
    let image = find_image(store, &opts.image)?;
    let restart = RestartPolicy::parse(opts.restart.as_deref().unwrap_or("no"))?;
    if opts.auto_remove && restart != RestartPolicy::No {
        return Err(ContainerError::Invalid(
            "Conflicting options: --restart and --rm".into(),
        ));
    }
    let network_mode = match opts.network.as_deref() {
        None | Some("default") => default_network(),
        Some(n) => n.to_string(),
    };
    let network = match network_mode.as_str() {
        "none" => Network::None,
        "host" => Network::Host,
        _ => Network::Bridge,
    };
    // The network must exist before anything is created.
    let joined = match network {
        Network::Bridge => Some(
            store
                .networks()
                .map_err(net_err)?
                .find(&network_mode)
                .map_err(net_err)?,
        ),
        _ => None,
    };
    if joined.as_ref().is_none_or(|n| n.builtin) {
        if opts.ip.is_some() {
            return Err(ContainerError::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !opts.network_aliases.is_empty() {
            return Err(ContainerError::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
    }
    let ip: Option<std::net::Ipv4Addr> = opts
        .ip
        .as_deref()
        .map(|i| {
            i.parse()
                .map_err(|_| ContainerError::Invalid(format!("invalid IPv4 address: {i}")))
        })
        .transpose()?;
    let publish = opts
        .publish
        .iter()
        .map(|p| crate::net::proxy::PortMapping::parse(p).map_err(ContainerError::Invalid))
        .collect::<Result<Vec<_>>>()?;
    if !publish.is_empty() && network != Network::Bridge {
        return Err(ContainerError::Invalid(format!(
            "published ports need a bridge network, not {network_mode}"
        )));
    }
    let ulimits = opts
        .ulimits
        .iter()
        .map(|u| crate::sandbox::Ulimit::parse(u))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    opts.resources
        .validate()
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
    if !opts.resources.is_empty() {
        // Ask the kernel now, on a cgroup made for the question: a limit it refuses (or a
        // host without cgroups) fails the create, and nothing is left.
        let probe = format!("probe-{}", hex::encode(rand::random::<[u8; 8]>()));
        match crate::cgroup::Cgroup::create(&probe, &opts.resources) {
            Ok(cg) => {
                if let Some(cg) = cg {
                    cg.remove();
                }
            }
            Err(e) => return Err(ContainerError::Invalid(e.to_string())),
        }
    }
    for h in &opts.add_hosts {
        match h.split_once(':') {
            Some((n, a)) if !n.is_empty() && a.parse::<std::net::IpAddr>().is_ok() => {}
            _ => {
                return Err(ContainerError::Invalid(format!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: {h:?}"
            )))
            }
        }
    }
    let volumes = opts
        .volumes
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>>>()?;
    let cfg = image.config.config.clone().unwrap_or_default();
    let (entrypoint, cmd) = match &opts.entrypoint {
        Some(e) if e.is_empty() => (vec![], opts.cmd.clone()),
        Some(e) => (vec![e.clone()], opts.cmd.clone()),
        None => (
            cfg.entrypoint.clone().unwrap_or_default(),
            if opts.cmd.is_empty() {
                cfg.cmd.clone().unwrap_or_default()
            } else {
                opts.cmd.clone()
            },
        ),
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(ContainerError::Invalid("No command specified".to_string()));
    }
    let mut env = cfg.env.clone().unwrap_or_default();
    for file in &opts.env_files {
        let text = std::fs::read_to_string(file).map_err(ContainerError::io(format!(
            "read env file {}",
            file.display()
        )))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            set_env(&mut env, line)?;
        }
    }
    for e in &opts.env {
        set_env(&mut env, e)?;
    }
    if let Some(nm) = &opts.name {
        strata_cache::validate_container_name(nm)?;
    }
    let id = ContainerId::random();
    let config = ContainerConfig {
        entrypoint,
        cmd,
        env,
        workdir: opts
            .workdir
            .clone()
            .or(cfg.working_dir.clone())
            .unwrap_or_default(),
        user: opts.user.clone().or(cfg.user.clone()).unwrap_or_default(),
        hostname: opts.hostname.clone().unwrap_or_else(|| id.short()),
        volumes,
        network,
        restart,
        tty: opts.tty,
        open_stdin: opts.open_stdin,
        auto_remove: opts.auto_remove,
        stop_signal: cfg.stop_signal.clone().unwrap_or_default(),
        labels: cfg.labels.clone().unwrap_or_default(),
        network_mode: network_mode.clone(),
        publish,
        dns: opts.dns.clone(),
        extra_hosts: opts.add_hosts.clone(),
        resources: opts.resources.clone(),
        ulimits,
    };
    if !config.workdir.is_empty() && !config.workdir.starts_with('/') {
        return Err(ContainerError::Invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.workdir
        )));
    }
    let encode = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|e| ContainerError::Invalid(format!("encode the container record: {e}")))
    };
    // The lease keeps GC away from the snapshots until the record (a GC root) exists.
    let _lease = store.lease()?;
    let layers = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(d, id)| rootfs::LayerRef {
            descriptor: d.clone(),
            diff_id: *id,
        })
        .collect::<Vec<_>>();
    rootfs::snapshots(store, &layers)?;
    let mut record = ContainerRecord {
        version: CONTAINER_RECORD_VERSION,
        id,
        name: String::new(),
        image: image.entry.descriptor.clone(),
        image_id: image.id,
        image_name: opts.image.clone(),
        created: Utc::now(),
        config: encode(serde_json::to_value(&config))?,
        state: encode(serde_json::to_value(ContainerState::default()))?,
    };
    let mut retry = 0;
    loop {
        record.name = match &opts.name {
            Some(n) => n.strip_prefix('/').unwrap_or(n).to_string(),
            None => names::generate(retry),
        };
        match store.create_container(&record, &["upper", "work"]) {
            Ok(_) => break,
            Err(strata_cache::Error::ContainerNameInUse { .. })
                if opts.name.is_none() && retry < 10 =>
            {
                retry += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(net) = joined {
        let connected = store.networks().and_then(|n| {
            n.update(|s| {
                s.connect(
                    &net.id,
                    &id.hex(),
                    &record.name,
                    opts.network_aliases.clone(),
                    ip,
                )
            })
        });
        if let Err(e) = connected {
            let _ = store.remove_container(&id);
            return Err(net_err(e));
        }
    }
    ContainerStore::new(store.clone()).get(&id)
}

fn net_err(e: strata_cache::network::NetworkError) -> ContainerError {
    ContainerError::Invalid(e.to_string())
}

/// Applies `KEY=VALUE` (or `KEY`, from this process's environment) to `env`, replacing an
/// earlier value of the key.
fn set_env(env: &mut Vec<String>, entry: &str) -> Result<()> {
    let entry = match entry.split_once('=') {
        Some(("", _)) => {
            return Err(ContainerError::Invalid(format!(
                "invalid environment variable: {entry}"
            )))
        }
        Some(_) => entry.to_string(),
        None => match std::env::var(entry) {
            Ok(v) => format!("{entry}={v}"),
            // docker drops a bare name that is not set here.
            Err(_) => return Ok(()),
        },
    };
    let key = entry.split('=').next().unwrap_or_default().to_string();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(entry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::set_env;

    #[test]
    fn env_overrides_by_key() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A=2").unwrap();
        set_env(&mut env, "B=x=y").unwrap();
        set_env(&mut env, "STRATA_SURELY_UNSET_VAR").unwrap();
        assert_eq!(env, ["PATH=/bin", "A=2", "B=x=y"]);
        assert!(set_env(&mut env, "=v").is_err());
    }
}
