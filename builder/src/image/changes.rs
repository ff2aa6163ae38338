//! `-c/--change` for `import` (and later `commit`): Dockerfile instructions applied to a
//! config, parsed and expanded by the Dockerfile front end.

use crate::dockerfile::instructions::{
    normalize_workdir, parse_change, ConfigChange, FrontendError, ShellOrExec, DEFAULT_SHELL,
};
use std::collections::BTreeMap;
use strata_cache::oci::{ContainerConfig, Empty, Healthcheck};

/// A fresh config with `changes` applied in order.
pub fn config_with_changes(changes: &[String]) -> Result<ContainerConfig, FrontendError> {
    let mut config = ContainerConfig::default();
    apply_changes(&mut config, changes)?;
    Ok(config)
}

fn env_pairs(config: &ContainerConfig) -> Vec<(String, String)> {
    config
        .env
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

/// Applies `changes` to `config` as docker's `commit -c` / `import -c` do.
pub fn apply_changes(
    config: &mut ContainerConfig,
    changes: &[String],
) -> Result<(), FrontendError> {
    let mut cmd_set = false;
    for line in changes {
        let change = parse_change(line, &env_pairs(config))?;
        let shell = config
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
        let command = |form: ShellOrExec| match form {
            ShellOrExec::Exec(args) => args,
            ShellOrExec::Shell(text) => shell.iter().cloned().chain([text]).collect(),
        };
        match change {
            ConfigChange::Cmd(form) => {
                config.cmd = Some(command(form));
                cmd_set = true;
            }
            ConfigChange::Entrypoint(form) => {
                let args = command(form);
                config.entrypoint = if args.is_empty() { None } else { Some(args) };
                if !cmd_set {
                    config.cmd = None;
                }
            }
            ConfigChange::Env(pairs) => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (key, value) in pairs {
                    let entry = format!("{key}={value}");
                    match env
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(key.as_str()))
                    {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
            }
            ConfigChange::Expose(ports) => {
                let map = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in ports {
                    map.insert(port, Empty {});
                }
            }
            ConfigChange::Label(labels) => {
                config
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(labels);
            }
            ConfigChange::User(user) => config.user = Some(user),
            ConfigChange::Workdir(dir) => {
                let current = config.working_dir.clone().unwrap_or_default();
                config.working_dir = Some(normalize_workdir(&current, &dir));
            }
            ConfigChange::Volume(paths) => {
                let map = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    map.insert(path, Empty {});
                }
            }
            ConfigChange::Onbuild(trigger) => {
                config.on_build.get_or_insert_with(Vec::new).push(trigger)
            }
            ConfigChange::StopSignal(signal) => config.stop_signal = Some(signal),
            ConfigChange::Healthcheck(h) => config.healthcheck = Some(healthcheck_to_oci(&h)),
        }
    }
    Ok(())
}

/// A HEALTHCHECK as the image config stores it (durations in nanoseconds, zero omitted).
pub fn healthcheck_to_oci(h: &crate::dockerfile::instructions::Healthcheck) -> Healthcheck {
    let nanos = |d: std::time::Duration| {
        (!d.is_zero()).then(|| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    };
    Healthcheck {
        test: h.test.clone(),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        start_period: nanos(h.start_period),
        start_interval: nanos(h.start_interval),
        retries: (h.retries != 0).then_some(h.retries),
    }
}
