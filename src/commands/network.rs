//! `strata network create|ls|inspect|connect|disconnect|rm|prune`, as `docker network`.

use super::{confirm, open_store};
use crate::cli::Global;
use crate::output::print_table;
use crate::template::Template;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;
use strata_builder::container::{network, ContainerStore};
use strata_builder::net;
use strata_cache::network::{CreateNetwork, Network, Subnet};
use strata_cache::Store;

/// `strata network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

/// `network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (bridge)
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network (KEY=VALUE)
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Set driver specific options (KEY=VALUE)
    #[arg(short, long = "opt")]
    opts: Vec<String>,
    /// Network name
    name: String,
}

/// `network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Provide filter values (e.g. 'driver=bridge', 'name=NAME', 'id=ID', 'label=K[=V]', 'type=custom|builtin')
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Output format: table (default) or json (one object per line)
    #[arg(long)]
    format: Option<String>,
}

/// `network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Networks (name or ID)
    #[arg(required = true)]
    networks: Vec<String>,
    /// Format: json (default) or a template of fields such as '{{.Name}}' or '{{json .IPAM}}'
    #[arg(short, long)]
    format: Option<String>,
}

/// `network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    aliases: Vec<String>,
    /// Network
    network: String,
    /// Container
    container: String,
}

/// `network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    /// Network
    network: String,
    /// Container
    container: String,
}

/// `network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    /// Networks (name or ID)
    #[arg(required = true)]
    networks: Vec<String>,
}

/// `network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. 'label=K[=V]')
    #[arg(long = "filter")]
    filter: Vec<String>,
}

/// Runs a `network` subcommand.
pub fn run(global: &Global, cmd: NetworkCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    match cmd {
        NetworkCommand::Create(a) => create(&store, a),
        NetworkCommand::Ls(a) => ls(&store, a),
        NetworkCommand::Inspect(a) => inspect(&store, a),
        NetworkCommand::Connect(a) => {
            let ip =
                a.ip.as_deref()
                    .map(|i| {
                        i.parse()
                            .with_context(|| format!("invalid IPv4 address: {i}"))
                    })
                    .transpose()?;
            let containers = ContainerStore::new(store.clone());
            network::connect(&containers, &a.network, &a.container, ip, a.aliases)?;
            Ok(ExitCode::SUCCESS)
        }
        NetworkCommand::Disconnect(a) => {
            let containers = ContainerStore::new(store.clone());
            network::disconnect(&containers, &a.network, &a.container, a.force)?;
            Ok(ExitCode::SUCCESS)
        }
        NetworkCommand::Rm(a) => rm(&store, a),
        NetworkCommand::Prune(a) => prune(&store, a),
    }
}

fn key_values(raw: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for kv in raw {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if !kv.is_empty() => {
                out.insert(kv.clone(), String::new());
            }
            _ => bail!("invalid {what} {kv:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

fn create(store: &Store, a: CreateArgs) -> anyhow::Result<ExitCode> {
    let subnet = a
        .subnet
        .as_deref()
        .map(|s| s.parse::<Subnet>())
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let gateway = a
        .gateway
        .as_deref()
        .map(|g| {
            g.parse()
                .with_context(|| format!("invalid gateway address {g:?}"))
        })
        .transpose()?;
    if gateway.is_some() && subnet.is_none() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let req = CreateNetwork {
        name: a.name,
        driver: a.driver,
        subnet,
        gateway,
        internal: a.internal,
        labels: key_values(&a.labels, "label")?,
        options: key_values(&a.opts, "option")?,
    };
    let net = net::create_network(store, req)?;
    println!("{}", net.id);
    Ok(ExitCode::SUCCESS)
}

fn matches_filter(n: &Network, f: &str) -> anyhow::Result<bool> {
    let Some((k, v)) = f.split_once('=') else {
        bail!("bad format of filter (expected name=value)");
    };
    Ok(match k {
        "name" => n.name.contains(v),
        "driver" => n.driver == v,
        "id" => n.id.starts_with(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
            None => n.labels.contains_key(v),
        },
        "type" => match v {
            "custom" => !n.builtin,
            "builtin" => n.builtin,
            _ => bail!("invalid filter: 'type'='{v}'"),
        },
        "dangling" => {
            let want = matches!(v, "true" | "1");
            (n.active().next().is_none() && !n.builtin) == want
        }
        "scope" => v == "local",
        _ => bail!("invalid filter '{k}'"),
    })
}

fn ls(store: &Store, a: LsArgs) -> anyhow::Result<ExitCode> {
    let mut nets = Vec::new();
    'outer: for n in store.networks()?.list()? {
        // Filters of different keys all apply; values of one key are alternatives.
        let mut by_key: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for f in &a.filter {
            by_key
                .entry(f.split('=').next().unwrap_or(""))
                .or_default()
                .push(f);
        }
        for fs in by_key.values() {
            let mut any = false;
            for f in fs {
                any |= matches_filter(&n, f)?;
            }
            if !any {
                continue 'outer;
            }
        }
        nets.push(n);
    }
    let id = |n: &Network| {
        if a.no_trunc {
            n.id.clone()
        } else {
            n.id[..12].to_string()
        }
    };
    if a.quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Ok(ExitCode::SUCCESS);
    }
    match a.format.as_deref() {
        Some("json") | Some("{{json .}}") => {
            for n in &nets {
                let labels: Vec<String> =
                    n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{}",
                    json!({
                        "CreatedAt": n.created.format("%Y-%m-%d %H:%M:%S%.f %z UTC").to_string(),
                        "Driver": n.driver,
                        "ID": id(n),
                        "IPv6": "false",
                        "Internal": n.internal.to_string(),
                        "Labels": labels.join(","),
                        "Name": n.name,
                        "Scope": "local",
                    })
                );
            }
        }
        Some("table") | None => {
            let rows: Vec<Vec<String>> = nets
                .iter()
                .map(|n| vec![id(n), n.name.clone(), n.driver.clone(), "local".into()])
                .collect();
            print_table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
        }
        Some(other) => bail!("unsupported format {other:?}: use table or json"),
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's `network inspect` object.
pub fn inspect_json(n: &Network) -> Value {
    let mut containers = Map::new();
    // An address whose holder died (kill -9) is free: not shown.
    for (id, ep, a) in n.active().filter(|(_, _, a)| a.holder.alive()) {
        let prefix = n.subnet.map(|s| s.prefix()).unwrap_or(32);
        containers.insert(
            id.clone(),
            json!({
                "Name": ep.container_name,
                "EndpointID": a.endpoint_id,
                "MacAddress": a.mac,
                "IPv4Address": format!("{}/{prefix}", a.ip),
                "IPv6Address": "",
            }),
        );
    }
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => vec![json!({"Subnet": s.to_string(), "Gateway": g.to_string()})],
        _ => vec![],
    };
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

fn inspect(store: &Store, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let nets = store.networks()?;
    let mut values = Vec::new();
    let mut failed = false;
    for key in &a.networks {
        match nets.find(key) {
            Ok(n) => values.push(inspect_json(&n)),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    match a.format.as_deref() {
        None | Some("json") => println!("{}", serde_json::to_string_pretty(&values)?),
        Some(t) => {
            let template = Template::parse(t)?;
            for v in &values {
                println!("{}", template.render(v)?);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn rm(store: &Store, a: RmArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for key in &a.networks {
        match net::remove_network(store, key) {
            Ok(_) => println!("{key}"),
            Err(net::NetError::Network(strata_cache::network::NetworkError::NotFound(_)))
                if a.force => {}
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn prune(store: &Store, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )
    {
        return Ok(ExitCode::SUCCESS);
    }
    let deleted = prune_unused(store, &a.filter)?;
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in deleted {
            println!("{d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the custom networks no container uses (and that `filter` selects); returns their
/// names. Shared by `network prune` and `system prune`.
pub fn prune_unused(store: &Store, filter: &[String]) -> anyhow::Result<Vec<String>> {
    let nets = store.networks()?;
    net::reclaim(store, &nets)?;
    let mut deleted = Vec::new();
    for n in nets.list()? {
        if n.builtin || n.active().next().is_some() {
            continue;
        }
        let mut keep = false;
        for f in filter {
            keep |= !matches_filter(&n, f)?;
        }
        if keep {
            continue;
        }
        match net::remove_network(store, &n.id) {
            Ok(_) => deleted.push(n.name),
            // Someone connected a container meanwhile: it is in use now.
            Err(net::NetError::Network(strata_cache::network::NetworkError::InUse { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}
