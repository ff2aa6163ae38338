//! Container networks: their records and the addresses handed out on them.
//!
//! Each network is one JSON file, `strata/v1/networks/<id>.json`, replaced whole (temp file,
//! fsync, rename) under the exclusive lock `strata/v1/locks/networks.lock`. A record holds the
//! network's settings and its endpoints: the containers connected to it, and for each running
//! one the address it was given. An address belongs to a live process (the [`Holder`], the
//! process that keeps the container's network namespace); an address whose holder died
//! (kill -9) is handed out again by the next allocation, so no address is ever given twice
//! and none is lost. This module knows nothing of kernel interfaces: it only keeps the books.
//!
//! The built-in networks `bridge`, `host` and `none` exist in every store, as in docker.

mod ipam;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lock::{FileLock, Mode};
use crate::store::{sync_dir, Store};

pub use ipam::{default_pools, mac_for, Subnet};

/// The default bridge network's subnet, as docker's `docker0`.
pub const DEFAULT_BRIDGE_SUBNET: &str = "172.17.0.0/16";
/// The kernel interface of the default `bridge` network.
pub const DEFAULT_BRIDGE_INTERFACE: &str = "strata0";
const RECORD_VERSION: u32 = 1;

/// Result alias of this module.
pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

/// What can go wrong with network records; the messages are docker's where docker has one.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// No network has this name or ID (prefix).
    #[error("network {0} not found")]
    NotFound(String),
    /// An ID prefix names more than one network.
    #[error("network {0} is ambiguous ({1} matches found based on ID prefix)")]
    Ambiguous(String, usize),
    /// A network of this name exists.
    #[error("network with name {0} already exists")]
    NameTaken(String),
    /// The subnet overlaps an existing network's.
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    Overlap,
    /// No free subnet in docker's default pools.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
    /// A bad setting (gateway outside the subnet, a bad name, ...).
    #[error("{0}")]
    Invalid(String),
    /// The container already has an endpoint on the network.
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// The container has no endpoint on the network.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// The container's name or ID.
        container: String,
        /// The network's name.
        network: String,
    },
    /// Running containers are connected to the network.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// The network's name.
        name: String,
        /// Its ID.
        id: String,
    },
    /// Built-in networks cannot be removed or connected to at will.
    #[error("{0}")]
    Builtin(String),
    /// Every address of the subnet is taken.
    #[error("no available IPv4 addresses on this network's address pools: {network} ({subnet})")]
    Exhausted {
        /// The network's name.
        network: String,
        /// Its subnet.
        subnet: Subnet,
    },
    /// A requested address is taken or outside the subnet.
    #[error("{0}")]
    Address(String),
    /// A record could not be read or written.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

fn io_err(op: &'static str, path: &Path, e: io::Error) -> NetworkError {
    NetworkError::Store(crate::Error::io(op, path, e))
}

/// A network: its settings and its endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Record format version.
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    /// The name users give.
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// No route out of the network.
    pub internal: bool,
    /// One of `bridge`, `host`, `none`.
    pub builtin: bool,
    /// The subnet (bridge networks).
    pub subnet: Option<Subnet>,
    /// The gateway: the bridge's own address.
    pub gateway: Option<Ipv4Addr>,
    /// The kernel bridge interface (bridge networks).
    pub interface: Option<String>,
    /// `--label` values.
    pub labels: BTreeMap<String, String>,
    /// Driver options, as docker shows them.
    pub options: BTreeMap<String, String>,
    /// Connected containers, by container ID.
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl Network {
    /// Endpoints of running containers, with their addresses.
    pub fn active(&self) -> impl Iterator<Item = (&String, &Endpoint, &ActiveEndpoint)> {
        self.endpoints
            .iter()
            .filter_map(|(id, e)| e.active.as_ref().map(|a| (id, e, a)))
    }

    /// Whether containers can be connected to it (`bridge` driver).
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
}

/// A container's membership of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The container's name (for name resolution).
    pub container_name: String,
    /// `--alias` / `--network-alias` names.
    pub aliases: Vec<String>,
    /// `--ip`: the address this container gets when it starts.
    pub requested_ip: Option<Ipv4Addr>,
    /// Present while the container runs.
    pub active: Option<ActiveEndpoint>,
    /// Not a container's: a build's RUN steps. Lives only while its holder does, so freeing
    /// its address ([`NetworkSet::reclaim`]) removes the whole endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

/// The address and interface of a running container on a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveEndpoint {
    /// 64 hex digits.
    pub endpoint_id: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The container interface's MAC address.
    pub mac: String,
    /// The host side of the veth pair.
    pub host_interface: String,
    /// The process that keeps the container's network namespace.
    pub holder: Holder,
}

/// A process, identified so that a reused pid does not pass for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process ID.
    pub pid: u32,
    /// Its start time (field 22 of `/proc/PID/stat`, clock ticks since boot).
    pub start_time: u64,
}

impl Holder {
    /// The calling process.
    pub fn current() -> Holder {
        let pid = std::process::id();
        Holder {
            pid,
            start_time: start_time(pid).unwrap_or(0),
        }
    }

    /// Process `pid`, if it exists.
    pub fn of_pid(pid: u32) -> Option<Holder> {
        start_time(pid).map(|start_time| Holder { pid, start_time })
    }

    /// Whether the process still runs (and is the same one).
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); a zombie has exited.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// What `network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// `bridge` (the only driver for user networks).
    pub driver: String,
    /// `--subnet`, else one from [`default_pools`].
    pub subnet: Option<Subnet>,
    /// `--gateway`, else the subnet's first host address.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--opt`.
    pub options: BTreeMap<String, String>,
}

/// The networks of a store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Networks {
    dir: PathBuf,
    lock: PathBuf,
    store: Store,
}

impl Store {
    /// The store's networks; creates the built-in ones on first use.
    pub fn networks(&self) -> Result<Networks> {
        let nets = Networks {
            dir: self.metadata_dir().join("networks"),
            lock: self.metadata_dir().join("locks").join("networks.lock"),
            store: self.clone(),
        };
        fs::create_dir_all(&nets.dir).map_err(|e| io_err("create directory", &nets.dir, e))?;
        let names: Vec<String> = nets.list()?.into_iter().map(|n| n.name).collect();
        if !["bridge", "host", "none"]
            .iter()
            .all(|b| names.iter().any(|n| n == b))
        {
            nets.update(|_| Ok(()))?;
        }
        Ok(nets)
    }
}

/// All records, read under the lock, changed by an update and written back.
#[derive(Debug)]
pub struct NetworkSet {
    networks: Vec<Network>,
    removed: Vec<String>,
}

impl NetworkSet {
    /// Every network.
    pub fn all(&self) -> &[Network] {
        &self.networks
    }

    /// Finds a network as docker does: full ID, then exact name, then unique ID prefix.
    pub fn find(&self, key: &str) -> Result<&Network> {
        let i = find_index(&self.networks, key)?;
        Ok(&self.networks[i])
    }

    fn find_mut(&mut self, key: &str) -> Result<&mut Network> {
        let i = find_index(&self.networks, key)?;
        Ok(&mut self.networks[i])
    }

    /// Creates a bridge network.
    pub fn create(&mut self, req: CreateNetwork) -> Result<Network> {
        if req.name.is_empty()
            || !req
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            || !req.name.as_bytes()[0].is_ascii_alphanumeric()
        {
            return Err(NetworkError::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if self.networks.iter().any(|n| n.name == req.name) {
            return Err(NetworkError::NameTaken(req.name));
        }
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        if driver != "bridge" {
            return Err(NetworkError::Invalid(format!(
                "plugin \"{driver}\" not found: only the bridge driver is available"
            )));
        }
        let taken: Vec<Subnet> = self.networks.iter().filter_map(|n| n.subnet).collect();
        let subnet = match req.subnet {
            Some(s) => {
                if taken.iter().any(|t| t.overlaps(&s)) {
                    return Err(NetworkError::Overlap);
                }
                if s.prefix() > 30 {
                    return Err(NetworkError::Invalid(format!(
                        "subnet {s} is too small for a gateway and a container"
                    )));
                }
                s
            }
            None => default_pools()
                .find(|p| !taken.iter().any(|t| t.overlaps(p)))
                .ok_or(NetworkError::NoPool)?,
        };
        let gateway = match req.gateway {
            Some(g) if !subnet.contains(g) || g == subnet.addr() || g == subnet.broadcast() => {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for gateway {g}"
                )))
            }
            Some(g) => g,
            None => subnet.first_host(),
        };
        let id = new_id();
        let net = Network {
            version: RECORD_VERSION,
            interface: Some(format!("br-{}", &id[..12])),
            id,
            name: req.name,
            driver,
            created: Utc::now(),
            internal: req.internal,
            builtin: false,
            subnet: Some(subnet),
            gateway: Some(gateway),
            labels: req.labels,
            options: req.options,
            endpoints: BTreeMap::new(),
        };
        self.networks.push(net.clone());
        Ok(net)
    }

    /// Removes a network; refused while running containers use it. Endpoints of stopped
    /// containers go with it, as in docker.
    pub fn remove(&mut self, key: &str) -> Result<Network> {
        let i = find_index(&self.networks, key)?;
        let net = &self.networks[i];
        if net.builtin {
            return Err(NetworkError::Builtin(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if net.active().next().is_some() {
            return Err(NetworkError::InUse {
                name: net.name.clone(),
                id: net.id.clone(),
            });
        }
        let net = self.networks.remove(i);
        self.removed.push(net.id.clone());
        Ok(net)
    }

    /// Records that `container` is on network `key` (it gets an address when it starts).
    pub fn connect(
        &mut self,
        key: &str,
        container: &str,
        container_name: &str,
        aliases: Vec<String>,
        ip: Option<Ipv4Addr>,
    ) -> Result<Network> {
        let net = self.find_mut(key)?;
        if net.endpoints.contains_key(container) {
            return Err(NetworkError::AlreadyConnected {
                container: container_name.to_string(),
                network: net.name.clone(),
            });
        }
        if let Some(ip) = ip {
            match net.subnet {
                Some(s) if s.contains(ip) => {}
                _ => {
                    return Err(NetworkError::Address(format!(
                        "invalid address {ip}: it does not belong to any of this network's subnets"
                    )))
                }
            }
            if net.builtin {
                return Err(NetworkError::Address(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
        }
        if !aliases.is_empty() && net.builtin {
            return Err(NetworkError::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        net.endpoints.insert(
            container.to_string(),
            Endpoint {
                container_name: container_name.to_string(),
                aliases,
                requested_ip: ip,
                active: None,
                transient: false,
            },
        );
        Ok(net.clone())
    }

    /// Records a transient endpoint `id` (named `name`) on network `key` and gives it an
    /// address held by `holder`: one step for what is no container (a build's RUN steps).
    /// [`NetworkSet::disconnect`] removes it; so does [`NetworkSet::reclaim`] once the holder
    /// is dead.
    pub fn activate_transient(
        &mut self,
        key: &str,
        id: &str,
        name: &str,
        holder: Holder,
        host_interface: &str,
    ) -> Result<(Network, ActiveEndpoint)> {
        let net = self.find_mut(key)?;
        if !net.is_bridge() {
            return Err(NetworkError::Invalid(format!(
                "network {} has no addresses to give",
                net.name
            )));
        }
        if net.endpoints.contains_key(id) {
            return Err(NetworkError::AlreadyConnected {
                container: name.to_string(),
                network: net.name.clone(),
            });
        }
        net.endpoints.insert(
            id.to_string(),
            Endpoint {
                container_name: name.to_string(),
                aliases: Vec::new(),
                requested_ip: None,
                active: None,
                transient: true,
            },
        );
        self.activate(key, id, holder, host_interface)
    }

    /// Removes `container`'s endpoint from network `key`.
    pub fn disconnect(&mut self, key: &str, container: &str) -> Result<(Network, Endpoint)> {
        let net = self.find_mut(key)?;
        let ep = net
            .endpoints
            .remove(container)
            .ok_or_else(|| NetworkError::NotConnected {
                container: container.to_string(),
                network: net.name.clone(),
            })?;
        Ok((net.clone(), ep))
    }

    /// Gives `container` an address on network `key` (its requested one, else the lowest free
    /// one), held by `holder`. Addresses of dead holders are free.
    pub fn activate(
        &mut self,
        key: &str,
        container: &str,
        holder: Holder,
        host_interface: &str,
    ) -> Result<(Network, ActiveEndpoint)> {
        let net = self.find_mut(key)?;
        let name = net.name.clone();
        let subnet = net.subnet.ok_or_else(|| {
            NetworkError::Invalid(format!("network {name} has no addresses to give"))
        })?;
        let in_use: Vec<Ipv4Addr> = net
            .endpoints
            .iter()
            .filter(|(id, _)| id.as_str() != container)
            .filter_map(|(_, e)| e.active.as_ref())
            .filter(|a| a.holder.alive())
            .map(|a| a.ip)
            .chain(net.gateway)
            .collect();
        let ep = net
            .endpoints
            .get_mut(container)
            .ok_or_else(|| NetworkError::NotConnected {
                container: container.to_string(),
                network: name.clone(),
            })?;
        let ip = match ep.requested_ip {
            Some(ip) if in_use.contains(&ip) => {
                return Err(NetworkError::Address(format!(
                    "Address already in use: {ip} on network {name}"
                )))
            }
            Some(ip) => ip,
            None => {
                subnet
                    .hosts()
                    .find(|h| !in_use.contains(h))
                    .ok_or(NetworkError::Exhausted {
                        network: name.clone(),
                        subnet,
                    })?
            }
        };
        let active = ActiveEndpoint {
            endpoint_id: new_id(),
            ip,
            mac: mac_for(ip),
            host_interface: host_interface.to_string(),
            holder,
        };
        ep.active = Some(active.clone());
        Ok((net.clone(), active))
    }

    /// Frees `container`'s address on network `key` (it stopped); the endpoint stays.
    pub fn deactivate(&mut self, key: &str, container: &str) -> Result<Option<ActiveEndpoint>> {
        let net = self.find_mut(key)?;
        Ok(net
            .endpoints
            .get_mut(container)
            .and_then(|e| e.active.take()))
    }

    /// Removes every endpoint of `container` (it was removed); returns what it had.
    pub fn forget_container(&mut self, container: &str) -> Vec<(Network, Endpoint)> {
        let mut gone = Vec::new();
        for net in &mut self.networks {
            if let Some(ep) = net.endpoints.remove(container) {
                gone.push((net.clone(), ep));
            }
        }
        gone
    }

    /// Frees the addresses of dead holders (removing transient endpoints whole); returns
    /// (network, container, endpoint) of each.
    pub fn reclaim(&mut self) -> Vec<(Network, String, ActiveEndpoint)> {
        let mut freed = Vec::new();
        for net in &mut self.networks {
            let mut changed = Vec::new();
            for (id, ep) in &mut net.endpoints {
                if ep.active.as_ref().is_some_and(|a| !a.holder.alive()) {
                    changed.push((id.clone(), ep.active.take().expect("checked")));
                }
            }
            net.endpoints
                .retain(|_, ep| !(ep.transient && ep.active.is_none()));
            for (id, a) in changed {
                freed.push((net.clone(), id, a));
            }
        }
        freed
    }
}

fn find_index(nets: &[Network], key: &str) -> Result<usize> {
    if key.is_empty() {
        return Err(NetworkError::NotFound(key.to_string()));
    }
    if let Some(i) = nets.iter().position(|n| n.id == key) {
        return Ok(i);
    }
    if let Some(i) = nets.iter().position(|n| n.name == key) {
        return Ok(i);
    }
    let matches: Vec<usize> = (0..nets.len())
        .filter(|&i| nets[i].id.starts_with(key))
        .collect();
    match matches.len() {
        0 => Err(NetworkError::NotFound(key.to_string())),
        1 => Ok(matches[0]),
        n => Err(NetworkError::Ambiguous(key.to_string(), n)),
    }
}

fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn builtin(name: &str) -> Network {
    let (driver, subnet, interface, options) = match name {
        "bridge" => {
            let subnet: Subnet = DEFAULT_BRIDGE_SUBNET.parse().expect("valid constant");
            let options = [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.name", DEFAULT_BRIDGE_INTERFACE),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into_iter()
            .collect();
            (
                "bridge",
                Some(subnet),
                Some(DEFAULT_BRIDGE_INTERFACE.to_string()),
                options,
            )
        }
        "host" => ("host", None, None, BTreeMap::new()),
        _ => ("null", None, None, BTreeMap::new()),
    };
    Network {
        version: RECORD_VERSION,
        id: new_id(),
        name: name.to_string(),
        driver: driver.to_string(),
        created: Utc::now(),
        internal: false,
        builtin: true,
        gateway: subnet.map(|s| s.first_host()),
        subnet,
        interface,
        labels: BTreeMap::new(),
        options,
        endpoints: BTreeMap::new(),
    }
}

impl Networks {
    /// Every network, sorted by name. Reads without the lock: each record is replaced whole.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut nets = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(nets),
            Err(e) => return Err(io_err("read directory", &self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("read directory", &self.dir, e))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                // Removed since the directory was read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", &path, e)),
            };
            let net: Network = serde_json::from_slice(&bytes).map_err(|e| {
                NetworkError::Store(crate::Error::Json {
                    what: path.display().to_string(),
                    source: e,
                })
            })?;
            nets.push(net);
        }
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets)
    }

    /// Finds a network by ID, name or unique ID prefix.
    pub fn find(&self, key: &str) -> Result<Network> {
        let mut nets = self.list()?;
        let i = find_index(&nets, key)?;
        Ok(nets.swap_remove(i))
    }

    /// Runs `f` on all records under the exclusive lock and writes back what it changed.
    /// When `f` fails nothing is written.
    pub fn update<T>(&self, f: impl FnOnce(&mut NetworkSet) -> Result<T>) -> Result<T> {
        let _guard = FileLock::acquire(&self.lock, Mode::Exclusive)?;
        let before = self.list()?;
        let mut set = NetworkSet {
            networks: before.clone(),
            removed: Vec::new(),
        };
        for name in ["bridge", "host", "none"] {
            if !set.networks.iter().any(|n| n.builtin && n.name == name) {
                set.networks.push(builtin(name));
            }
        }
        let out = f(&mut set)?;
        // A lease keeps `system check` from taking our temp files for garbage.
        let _lease = self.store.lease()?;
        for net in &set.networks {
            if before.iter().any(|b| b == net) {
                continue;
            }
            self.write(net)?;
        }
        for id in &set.removed {
            let path = self.dir.join(format!("{id}.json"));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &path, e)),
            }
        }
        if !set.removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(out)
    }

    fn write(&self, net: &Network) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(net).map_err(|e| {
            NetworkError::Store(crate::Error::Json {
                what: format!("network {}", net.name),
                source: e,
            })
        })?;
        let path = self.dir.join(format!("{}.json", net.id));
        crate::store::write_file_atomic(&self.store, &self.dir, &path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
