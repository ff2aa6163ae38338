//! `inspect` of a container: docker's field names and layout.

use super::{Container, RestartPolicy, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use strata_cache::Store;

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

/// docker's `container inspect` object for `c`.
pub fn inspect_json(store: &Store, c: &Container) -> Value {
    let cfg = &c.config;
    let st = &c.state;
    let argv = cfg.argv();
    let (path, args) = match argv.split_first() {
        Some((p, a)) => (p.clone(), a.to_vec()),
        None => (String::new(), vec![]),
    };
    // Listing the lowers may unpack a missing snapshot: a write to the store.
    let _lease = store.lease();
    let lowers = c
        .lowers(store)
        .map(|l| {
            l.iter()
                .rev()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let dir = c.dir(store);
    let (restart_name, max_retry) = match cfg.restart {
        RestartPolicy::No => ("no", 0),
        RestartPolicy::Always => ("always", 0),
        RestartPolicy::OnFailure { max_retries } => ("on-failure", max_retries),
    };
    let binds: Vec<String> = cfg
        .volumes
        .iter()
        .map(|v| {
            format!(
                "{}:{}{}",
                v.source.display(),
                v.destination,
                if v.readonly { ":ro" } else { "" }
            )
        })
        .collect();
    let mounts: Vec<Value> = cfg
        .volumes
        .iter()
        .map(|v| {
            json!({
                "Type": "bind",
                "Source": v.source.display().to_string(),
                "Destination": v.destination,
                "Mode": if v.readonly { "ro" } else { "" },
                "RW": !v.readonly,
                "Propagation": "rprivate",
            })
        })
        .collect();
    let network = match cfg.network {
        super::Network::None => "none",
        super::Network::Host => "host",
        super::Network::Bridge => cfg.network_mode.as_str(),
    };
    let mut networks = serde_json::Map::new();
    for (n, ep) in super::network::settings(store, c) {
        let active = ep.active.as_ref();
        networks.insert(
            n.name.clone(),
            json!({
                "IPAMConfig": ep.requested_ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
                "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                "NetworkID": n.id,
                "EndpointID": active.map(|a| a.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": if active.is_some() { n.gateway.map(|g| g.to_string()).unwrap_or_default() } else { String::new() },
                "IPAddress": active.map(|a| a.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": if active.is_some() { n.subnet.map(|s| s.prefix()).unwrap_or(0) } else { 0 },
                "MacAddress": active.map(|a| a.mac.clone()).unwrap_or_default(),
            }),
        );
    }
    let ports: serde_json::Map<String, Value> = cfg
        .publish
        .iter()
        .map(|p| {
            (
                format!("{}/{}", p.container_port, p.proto),
                json!([{"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}]),
            )
        })
        .collect();
    let r = &cfg.resources;
    json!({
        "Id": c.id().hex(),
        "Created": c.record.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "Path": path,
        "Args": args,
        "State": {
            "Status": st.status.as_str(),
            "Running": matches!(st.status, Status::Running | Status::Paused),
            "Paused": st.status == Status::Paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": false,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": time(st.started_at),
            "FinishedAt": time(st.finished_at),
        },
        "Image": c.image_id().to_string(),
        "LogPath": c.log_path(store).display().to_string(),
        "Name": format!("/{}", c.name()),
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
            "NetworkMode": network,
            "PortBindings": ports,
            "Memory": r.memory.unwrap_or(0),
            "MemorySwap": r.memory_swap.unwrap_or(0),
            "NanoCpus": match (r.cpu_quota, r.cpu_period) { (Some(q), Some(p)) if p > 0 => q * 1_000_000_000 / p as i64, _ => 0 },
            "CpuQuota": r.cpu_quota.unwrap_or(0),
            "CpuPeriod": r.cpu_period.unwrap_or(0),
            "CpuShares": r.cpu_shares.unwrap_or(0),
            "PidsLimit": r.pids_limit,
            "Ulimits": cfg.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "Dns": cfg.dns,
            "ExtraHosts": if cfg.extra_hosts.is_empty() { Value::Null } else { json!(cfg.extra_hosts) },
            "RestartPolicy": { "Name": restart_name, "MaximumRetryCount": max_retry },
            "AutoRemove": cfg.auto_remove,
            "Privileged": false,
            "LogConfig": { "Type": "json-file", "Config": {} },
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": lowers,
                "UpperDir": c.upper_dir(store).display().to_string(),
                "WorkDir": c.work_dir(store).display().to_string(),
                "MergedDir": dir.join("run").display().to_string(),
            },
        },
        "Mounts": mounts,
        "NetworkSettings": { "Networks": networks },
        "Config": {
            "Hostname": cfg.hostname,
            "User": cfg.user,
            "AttachStdin": cfg.open_stdin,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "StdinOnce": false,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": c.record.image_name,
            "WorkingDir": cfg.workdir,
            "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
            "Labels": cfg.labels,
            "StopSignal": if cfg.stop_signal.is_empty() { Value::Null } else { json!(cfg.stop_signal) },
        },
    })
}
