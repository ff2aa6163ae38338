//! A container's networks: wiring at start ([`wire`]), unwiring at exit, `network connect`
//! and `disconnect` on created and running containers, and the hosts files that name the
//! containers of a network to each other.
//!
//! Names resolve through `/etc/hosts` rather than an embedded DNS server at 127.0.0.11:
//! without a daemon there is no process to serve DNS for every container, and a file that is
//! rewritten whenever a container joins or leaves a network gives the same answers
//! (container name, aliases, short ID) to every resolver, busybox's included. Each running
//! container's file is rewritten in place: the file in its run directory that the sandbox
//! bind-mounts (read-only for the container) on `/etc/hosts`.

use super::{Container, ContainerError, ContainerStore, Network, Result};
use crate::net::{self, proxy::Proxy, Attachment, Netns};
use strata_cache::network::{Holder, NetworkError};
use strata_cache::Store;

fn net_err(e: net::NetError) -> ContainerError {
    ContainerError::Invalid(e.to_string())
}

fn rec_err(e: NetworkError) -> ContainerError {
    ContainerError::Invalid(e.to_string())
}

/// A running container's network namespace, interfaces and port proxy.
#[derive(Debug)]
pub struct Wired {
    netns: Netns,
    attachments: Vec<Attachment>,
    _proxy: Option<Proxy>,
}

impl Wired {
    /// The path the sandbox joins the namespace by.
    pub fn netns_path(&self) -> std::path::PathBuf {
        self.netns.path()
    }

    /// The IDs of the networks it is on.
    pub fn network_ids(&self) -> Vec<String> {
        self.attachments
            .iter()
            .map(|a| a.network_id.clone())
            .collect()
    }
}

/// The `/etc/hosts` of `c`: localhost, its own addresses, the containers it shares a
/// user-defined network with, and `--add-host` entries.
pub fn hosts(store: &Store, c: &Container) -> Result<String> {
    let hostname = &c.config.hostname;
    let mut text = if c.config.network == Network::Bridge {
        net::hosts_content(store, &c.id().hex(), hostname).map_err(net_err)?
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
        )
    };
    for h in &c.config.extra_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    Ok(text)
}

/// `/etc/resolv.conf`: `--dns` servers, else the host's file (without its loopback
/// servers behind a bridge, as docker).
pub fn resolv_conf(c: &Container) -> String {
    if c.config.dns.is_empty() {
        if c.config.network == Network::Bridge {
            return net::bridged_resolv_conf();
        }
        return std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    c.config
        .dns
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect()
}

/// For a bridge-networked container: a new network namespace with an interface and address
/// on each of its networks, and the proxy of its published ports. Held by this process (the
/// monitor): when it dies, the namespace and the interfaces go, and the addresses are free.
pub fn wire(store: &Store, c: &Container) -> Result<Option<Wired>> {
    if c.config.network != Network::Bridge {
        return Ok(None);
    }
    let id = c.id().hex();
    let netns = Netns::create().map_err(ContainerError::io("create a network namespace"))?;
    let nets = store.networks().map_err(rec_err)?.list().map_err(rec_err)?;
    let mut wired = Wired {
        netns,
        attachments: Vec::new(),
        _proxy: None,
    };
    for n in nets.iter().filter(|n| n.endpoints.contains_key(&id)) {
        match net::attach(store, &wired.netns, &n.id, &id, Holder::current()) {
            Ok(a) => wired.attachments.push(a),
            Err(e) => {
                unwire(store, c, wired);
                return Err(net_err(e));
            }
        }
    }
    if !c.config.publish.is_empty() {
        let Some(target) = wired.attachments.first().map(|a| a.endpoint.ip) else {
            unwire(store, c, wired);
            return Err(ContainerError::Invalid(
                "published ports need the container on a network".into(),
            ));
        };
        match Proxy::start(&c.config.publish, target) {
            Ok(p) => wired._proxy = Some(p),
            Err(e) => {
                unwire(store, c, wired);
                return Err(ContainerError::Invalid(e.to_string()));
            }
        }
    }
    Ok(Some(wired))
}

/// Takes a stopped container off its networks: interfaces deleted, addresses freed, the
/// other containers' hosts files rewritten.
pub fn unwire(store: &Store, c: &Container, wired: Wired) {
    let id = c.id().hex();
    for a in &wired.attachments {
        if let Err(e) = net::detach(store, &a.network_id, &id) {
            tracing::warn!("disconnect {id} from {}: {e}", a.network);
        }
    }
    let nets: Vec<String> = wired
        .attachments
        .iter()
        .map(|a| a.network_id.clone())
        .collect();
    drop(wired);
    let containers = ContainerStore::new(store.clone());
    for n in nets {
        refresh(&containers, &n);
    }
}

/// The hosts file a running container sees: `hosts` in the newest run directory (the
/// sandbox keeps one per run of the process and removes it when the process ends).
fn hosts_file(store: &Store, c: &Container) -> Option<std::path::PathBuf> {
    let run = c.dir(store).join("run");
    std::fs::read_dir(run)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
        .map(|e| e.path().join("hosts"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
}

/// Tells every running container of network `key` about the current members.
pub fn refresh(containers: &ContainerStore, key: &str) {
    let lookup = |id: &str| -> Option<(std::path::PathBuf, String)> {
        let c = containers.find(id).ok()?;
        if !c.is_running() || c.state.pid <= 0 {
            return None;
        }
        Some((
            hosts_file(containers.store(), &c)?,
            c.config.hostname.clone(),
        ))
    };
    if let Err(e) = net::refresh_hosts(containers.store(), key, &lookup) {
        tracing::warn!("update the hosts files of network {key}: {e}");
    }
    // --add-host entries are not in the network's view: put them back.
    if let Ok(n) = containers.store().networks().and_then(|n| n.find(key)) {
        for (id, _, _) in n.active() {
            let Ok(c) = containers.find(id) else { continue };
            if c.config.extra_hosts.is_empty() || !c.is_running() {
                continue;
            }
            if let (Ok(text), Some(path)) = (
                hosts(containers.store(), &c),
                hosts_file(containers.store(), &c),
            ) {
                let _ = std::fs::write(path, text);
            }
        }
    }
}

/// `network connect [--ip IP] [--alias A] NET CONTAINER`: recorded for a stopped container,
/// wired at once into a running one.
pub fn connect(
    containers: &ContainerStore,
    network: &str,
    query: &str,
    ip: Option<std::net::Ipv4Addr>,
    aliases: Vec<String>,
) -> Result<()> {
    let store = containers.store();
    let c = containers.find(query)?;
    let nets = store.networks().map_err(rec_err)?;
    let target = nets.find(network).map_err(rec_err)?;
    match c.config.network {
        Network::Host => {
            return Err(ContainerError::Invalid(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ))
        }
        Network::None => {
            return Err(ContainerError::Invalid(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ))
        }
        Network::Bridge => {}
    }
    if !target.is_bridge() {
        return Err(ContainerError::Invalid(format!(
            "container cannot be connected to the {} network",
            target.name
        )));
    }
    let id = c.id().hex();
    nets.update(|s| s.connect(&target.id, &id, c.name(), aliases, ip))
        .map_err(rec_err)?;
    if !c.is_running() || c.state.pid <= 0 {
        return Ok(());
    }
    let attached = Netns::of_pid(c.state.pid as u32)
        .map_err(ContainerError::io("open the container's network namespace"))
        .and_then(|ns| {
            let holder = Holder::of_pid(c.state.monitor_pid as u32).ok_or_else(|| {
                ContainerError::Invalid(format!("container {id} has no running monitor"))
            })?;
            net::attach(store, &ns, &target.id, &id, holder).map_err(net_err)
        });
    if let Err(e) = attached {
        let _ = nets.update(|s| s.disconnect(&target.id, &id));
        return Err(e);
    }
    refresh(containers, &target.id);
    Ok(())
}

/// `network disconnect [-f] NET CONTAINER`. With `force`, kernel errors do not stop it.
pub fn disconnect(
    containers: &ContainerStore,
    network: &str,
    query: &str,
    force: bool,
) -> Result<()> {
    let store = containers.store();
    let nets = store.networks().map_err(rec_err)?;
    let target = nets.find(network).map_err(rec_err)?;
    let c = match containers.find(query) {
        Ok(c) => c,
        Err(e) if force => {
            // docker -f also cleans an endpoint whose container is gone.
            let _ = nets.update(|s| s.disconnect(&target.id, query));
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let id = c.id().hex();
    if !target.endpoints.contains_key(&id) {
        return Err(rec_err(NetworkError::NotConnected {
            container: c.name().to_string(),
            network: target.name.clone(),
        }));
    }
    if let Err(e) = net::detach(store, &target.id, &id) {
        if !force {
            return Err(net_err(e));
        }
    }
    nets.update(|s| s.disconnect(&target.id, &id))
        .map_err(rec_err)?;
    refresh(containers, &target.id);
    if c.is_running() && c.state.pid > 0 {
        if let (Ok(text), Some(path)) = (hosts(store, &c), hosts_file(store, &c)) {
            let _ = std::fs::write(path, text);
        }
    }
    Ok(())
}

/// Forgets a removed container's endpoints.
pub fn forget(store: &Store, id: &strata_cache::ContainerId) {
    if let Ok(nets) = store.networks() {
        let _ = nets.update(|s| Ok(s.forget_container(&id.hex())));
    }
}

/// The networks `c` is connected to, with its address on each while it runs (for `inspect`).
pub fn settings(
    store: &Store,
    c: &Container,
) -> Vec<(
    strata_cache::network::Network,
    strata_cache::network::Endpoint,
)> {
    let id = c.id().hex();
    store
        .networks()
        .and_then(|n| n.list())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let ep = n.endpoints.get(&id).cloned()?;
            Some((n, ep))
        })
        .collect()
}

/// What crashed processes left in the kernel (see [`leftovers`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Interfaces strata made whose network or container is gone.
    pub interfaces: Vec<String>,
    /// Addresses held by dead processes: (network, `container <ID>` or a build's endpoint
    /// name).
    pub addresses: Vec<(String, String)>,
    /// cgroups (under `strata/`) of stopped containers of this store and empty step
    /// cgroups.
    pub cgroups: Vec<String>,
}

impl Leftovers {
    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty() && self.addresses.is_empty() && self.cgroups.is_empty()
    }
}

/// `system check`: finds (and with `repair` removes) what crashed processes left behind:
/// interfaces in the caller's network namespace, addresses of dead holders, cgroups.
/// Container mounts need nothing: they live in the container's own mount namespace and die
/// with it.
pub fn leftovers(containers: &ContainerStore, repair: bool) -> Result<Leftovers> {
    let store = containers.store();
    let mut out = Leftovers::default();
    match net::cleanup(store, repair) {
        Ok(c) => {
            out.interfaces = c.interfaces;
            out.addresses = c.addresses;
        }
        Err(e) => tracing::warn!("network leftovers not checked: {e}"),
    }
    for name in crate::cgroup::list() {
        let Some(cg) = crate::cgroup::Cgroup::at(&name) else {
            continue;
        };
        let stale = if name.starts_with("step-") || name.starts_with("probe-") {
            // A step's cgroup is empty for a moment between its creation and the step
            // joining it: only an old empty one is a leftover.
            cg.pids().is_empty()
                && cg
                    .age()
                    .is_some_and(|a| a > std::time::Duration::from_secs(60))
        } else if let Ok(id) = name.parse::<strata_cache::ContainerId>() {
            match containers.get(&id) {
                Ok(c) => !c.is_running() && cg.pids().is_empty(),
                // Another store's container, or a removed one: not ours to judge unless empty
                // and unknown here.
                Err(_) => false,
            }
        } else {
            false
        };
        if stale {
            if repair {
                cg.remove();
            }
            out.cgroups.push(name);
        }
    }
    Ok(out)
}
