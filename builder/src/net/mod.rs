//! Container networks in the kernel: bridges, veth pairs, addresses and routes, all through
//! netlink ([`netlink`]), never by running `ip`; the books (which address belongs to whom)
//! are [`strata_cache::network`]'s.
//!
//! A network of the `bridge` driver is a Linux bridge (`br-<12 hex of its ID>`, the default
//! network's is `strata0`) holding the gateway address. A container gets a network namespace
//! of its own ([`Netns`], held by a descriptor) and, per network, a veth pair: the host end
//! (`veth<7 hex>`) enslaved to the bridge, the other end (`eth0`, `eth1`, ...) in the
//! container's namespace with the address and MAC the store gave it, and a default route via
//! the first non-internal network's gateway.
//!
//! Isolation and outbound traffic: an `--internal` network gets no default route and
//! forwarding off on its bridge (`net.ipv4.conf.<bridge>.forwarding = 0`); a non-internal
//! one routes out, masqueraded, through the store's nftables table ([`nft`]), which also
//! drops whatever would be forwarded from one strata bridge to another. Where nf_tables is
//! missing, every bridge keeps forwarding off: isolated, without outbound traffic.
//!
//! Everything strata creates in the kernel carries an interface alias
//! `strata <store tag> ...`, so [`cleanup`] (`system check`) finds and removes what a
//! crashed process left, and nothing of anyone else's.
//!
//! A build's RUN steps on the default network share one namespace on a network
//! ([`Transient`]: a transient endpoint held by the build process, gone with the build).
//!
//! Names resolve through `/etc/hosts`: each running container's hosts file lists the
//! containers it shares a user-defined network with, rewritten in place ([`refresh_hosts`])
//! whenever a container joins or leaves one.

pub mod netlink;
mod netns;
pub mod nft;
pub mod proxy;
mod transient;

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};
use strata_cache::network::{
    ActiveEndpoint, CreateNetwork, Holder, Network, NetworkError, Networks,
};
use strata_cache::Store;

pub use netns::Netns;
pub use transient::Transient;

/// Errors of network operations.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The records refused (unknown network, overlap, in use, ...).
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The kernel refused.
    #[error("{what}: {source}")]
    Kernel {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A request that does not fit.
    #[error("{0}")]
    Invalid(String),
}

fn kernel(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Kernel { what, source }
}

/// Result of network operations.
pub type Result<T, E = NetError> = std::result::Result<T, E>;

/// A short tag naming the store (a hash of its root path) in interface aliases.
pub fn store_tag(store: &Store) -> String {
    let hash = Sha256::digest(store.root().as_os_str().as_encoded_bytes());
    hex::encode(&hash[..4])
}

fn bridge_alias(tag: &str, net: &Network) -> String {
    format!("strata {tag} network {}", net.id)
}

fn veth_alias(tag: &str, container: &str) -> String {
    format!("strata {tag} container {container}")
}

/// Creates the network's bridge in the caller's namespace if it is missing, with the
/// gateway address, up; forwarding on (and the firewall table rebuilt) unless internal.
/// A non-internal network that cannot route out (no nf_tables) is logged as a warning.
pub fn ensure_bridge(store: &Store, net: &Network) -> Result<()> {
    if let Some(cause) = bridge_up(store, net)? {
        tracing::warn!("{cause}");
    }
    Ok(())
}

/// [`ensure_bridge`]; returns why a non-internal network has no outbound traffic, if so.
fn bridge_up(store: &Store, net: &Network) -> Result<Option<String>> {
    let (Some(name), Some(subnet), Some(gateway)) = (&net.interface, net.subnet, net.gateway)
    else {
        return Ok(None);
    };
    let mut sock = netlink::Socket::open().map_err(kernel("open a netlink socket"))?;
    if sock
        .link(name)
        .map_err(kernel(format!("look up {name}")))?
        .is_none()
    {
        // A subnet some other interface already uses (docker's docker0 holds 172.17.0.0/16)
        // would give the host two routes for it: refused instead of breaking its network.
        let links = sock.links().map_err(kernel("list interfaces"))?;
        for (index, addr, prefix) in sock.addresses().map_err(kernel("list addresses"))? {
            let theirs = strata_cache::network::Subnet::new(addr, prefix);
            if subnet.contains(addr) || theirs.is_some_and(|t| t.contains(gateway)) {
                let other = links
                    .iter()
                    .find(|l| l.index == index)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("#{index}"));
                return Err(NetError::Invalid(format!(
                    "network {}: subnet {subnet} overlaps {addr}/{prefix} of interface {other}",
                    net.name
                )));
            }
        }
        match sock.add_bridge(name, &bridge_alias(&store_tag(store), net)) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            other => other.map_err(kernel(format!("create bridge {name}")))?,
        }
    }
    sock.add_address(name, gateway, subnet.prefix())
        .map_err(kernel(format!(
            "add {gateway}/{} to {name}",
            subnet.prefix()
        )))?;
    // A non-internal network routes out (masqueraded) once the firewall table keeps the
    // networks apart; without it (no nf_tables), no network routes anywhere.
    let mut no_outbound = None;
    let routed = !net.internal
        && match sync_firewall(store) {
            Ok(()) => true,
            Err(e) => {
                no_outbound = Some(format!("no outbound traffic for network {}: {e}", net.name));
                false
            }
        };
    if routed {
        let global = "/proc/sys/net/ipv4/ip_forward";
        std::fs::write(global, "1").map_err(kernel(format!("write {global}")))?;
    }
    let forwarding = format!("/proc/sys/net/ipv4/conf/{name}/forwarding");
    std::fs::write(&forwarding, if routed { "1" } else { "0" })
        .map_err(kernel(format!("write {forwarding}")))?;
    sock.set_up(name)
        .map_err(kernel(format!("set {name} up")))?;
    Ok(no_outbound)
}

/// Rebuilds the store's nftables table (masquerading out of non-internal networks, no
/// forwarding between networks) from the network records.
pub fn sync_firewall(store: &Store) -> Result<()> {
    let bridges: Vec<nft::Bridge> = store
        .networks()?
        .list()?
        .into_iter()
        .filter_map(|n| {
            Some(nft::Bridge {
                interface: n.interface.clone()?,
                subnet: n.subnet?,
                internal: n.internal,
            })
        })
        .collect();
    let table = format!("strata-{}", store_tag(store));
    nft::sync(&table, &bridges).map_err(kernel(format!("replace nftables table ip {table}")))
}

/// `network create`: the record, then the bridge; no record is left if the bridge fails.
pub fn create_network(store: &Store, req: CreateNetwork) -> Result<Network> {
    let nets = store.networks()?;
    let net = nets.update(|s| s.create(req))?;
    if let Err(e) = ensure_bridge(store, &net) {
        let _ = nets.update(|s| s.remove(&net.id));
        let _ = delete_link(net.interface.as_deref());
        return Err(e);
    }
    Ok(net)
}

/// `network rm`: refused while running containers use it; removes the bridge.
pub fn remove_network(store: &Store, key: &str) -> Result<Network> {
    let nets = store.networks()?;
    // Addresses of containers that died without a word are free: they do not keep it in use.
    reclaim(store, &nets)?;
    let net = nets.update(|s| s.remove(key))?;
    delete_link(net.interface.as_deref())?;
    if let Err(e) = sync_firewall(store) {
        tracing::debug!("firewall table not rebuilt: {e}");
    }
    Ok(net)
}

fn delete_link(name: Option<&str>) -> Result<()> {
    let Some(name) = name else { return Ok(()) };
    let mut sock = netlink::Socket::open().map_err(kernel("open a netlink socket"))?;
    sock.delete(name).map_err(kernel(format!("delete {name}")))
}

/// Frees the addresses of dead holders and deletes their host interfaces if still there.
pub fn reclaim(store: &Store, nets: &Networks) -> Result<usize> {
    let freed = nets.update(|s| Ok(s.reclaim()))?;
    for (_, _, a) in &freed {
        let _ = delete_link(Some(&a.host_interface));
    }
    let _ = store;
    Ok(freed.len())
}

/// A running container's place on one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// The network's ID.
    pub network_id: String,
    /// The endpoint's address, MAC and host interface.
    pub endpoint: ActiveEndpoint,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The interface inside the container (`eth0`, ...).
    pub interface: String,
    /// Why a non-internal network gives no outbound traffic (no nf_tables), if it does not.
    pub no_outbound: Option<String>,
}

fn random_hex(n: usize) -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode(bytes)[..n].to_string()
}

/// Connects the running container `container` (namespace `netns`, kept by `holder`) to
/// network `key`: an address from the store, a veth pair, the address and routes inside.
/// Nothing is left (neither address nor interface) when it fails. A network without
/// outbound traffic is logged as a warning.
pub fn attach(
    store: &Store,
    netns: &Netns,
    key: &str,
    container: &str,
    holder: Holder,
) -> Result<Attachment> {
    let nets = store.networks()?;
    let host_if = format!("veth{}", random_hex(7));
    let (net, endpoint) = nets.update(|s| s.activate(key, container, holder, &host_if))?;
    let a = wire_endpoint(store, netns, net, container, endpoint, false)?;
    if let Some(cause) = &a.no_outbound {
        tracing::warn!("{cause}");
    }
    Ok(a)
}

/// The kernel half of an attachment: the bridge, the veth pair, the address and route inside.
/// On failure the interface goes and the address is given back (a `transient` endpoint goes
/// whole).
fn wire_endpoint(
    store: &Store,
    netns: &Netns,
    net: Network,
    owner: &str,
    endpoint: ActiveEndpoint,
    transient: bool,
) -> Result<Attachment> {
    match plumb(store, netns, &net, owner, &endpoint) {
        Ok((interface, no_outbound)) => Ok(Attachment {
            network: net.name.clone(),
            network_id: net.id.clone(),
            prefix: net.subnet.map(|s| s.prefix()).unwrap_or(32),
            gateway: net.gateway,
            endpoint,
            interface,
            no_outbound,
        }),
        Err(e) => {
            let _ = delete_link(Some(&endpoint.host_interface));
            let _ = store.networks().and_then(|nets| {
                nets.update(|s| {
                    if transient {
                        s.disconnect(&net.id, owner).map(|_| ())
                    } else {
                        s.deactivate(&net.id, owner).map(|_| ())
                    }
                })
            });
            Err(e)
        }
    }
}

fn plumb(
    store: &Store,
    netns: &Netns,
    net: &Network,
    container: &str,
    ep: &ActiveEndpoint,
) -> Result<(String, Option<String>)> {
    let no_outbound = bridge_up(store, net)?;
    let bridge = net
        .interface
        .as_deref()
        .ok_or_else(|| NetError::Invalid(format!("network {} has no bridge", net.name)))?;
    let mut inside = netns
        .socket()
        .map_err(kernel("open a netlink socket in the container's namespace"))?;
    let taken: Vec<String> = inside
        .links()
        .map_err(kernel("list the container's interfaces"))?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let interface = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !taken.contains(n))
        .expect("an unused name");
    let mut host = netlink::Socket::open().map_err(kernel("open a netlink socket"))?;
    host.add_veth(
        &ep.host_interface,
        &veth_alias(&store_tag(store), container),
        bridge,
        &interface,
        netns.fd(),
        &ep.mac,
    )
    .map_err(kernel(format!(
        "create veth pair {} / {interface}",
        ep.host_interface
    )))?;
    host.set_up(&ep.host_interface)
        .map_err(kernel(format!("set {} up", ep.host_interface)))?;
    let prefix = net.subnet.map(|s| s.prefix()).unwrap_or(32);
    inside
        .add_address(&interface, ep.ip, prefix)
        .map_err(kernel(format!("add {}/{prefix} to {interface}", ep.ip)))?;
    inside
        .set_up(&interface)
        .map_err(kernel(format!("set {interface} up")))?;
    if !net.internal {
        if let Some(gw) = net.gateway {
            inside
                .add_default_route(gw)
                .map_err(kernel(format!("add the default route via {gw}")))?;
        }
    }
    Ok((interface, no_outbound))
}

/// Disconnects a running container from network `key`: its veth pair goes (taking the
/// interface in the container with it) and its address is free.
pub fn detach(store: &Store, key: &str, container: &str) -> Result<Option<ActiveEndpoint>> {
    let nets = store.networks()?;
    let freed = nets.update(|s| s.deactivate(key, container))?;
    if let Some(a) = &freed {
        delete_link(Some(&a.host_interface))?;
    }
    Ok(freed)
}

/// The `/etc/hosts` of container `container` named `hostname`: the usual localhost lines,
/// its own addresses, and every running container it shares a user-defined network with,
/// by name and aliases.
pub fn hosts_content(store: &Store, container: &str, hostname: &str) -> Result<String> {
    let nets = store.networks()?.list()?;
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    let mut own = Vec::new();
    let mut peers: Vec<(Ipv4Addr, Vec<String>)> = Vec::new();
    for net in &nets {
        let Some(me) = net.endpoints.get(container) else {
            continue;
        };
        if let Some(a) = &me.active {
            own.push(a.ip);
        }
        if net.builtin {
            // docker resolves names on user-defined networks only.
            continue;
        }
        for (id, ep, a) in net.active() {
            if id == container || !a.holder.alive() {
                continue;
            }
            let mut names = vec![ep.container_name.clone()];
            names.extend(ep.aliases.iter().cloned());
            names.push(id[..12].to_string());
            peers.push((a.ip, names));
        }
    }
    for ip in own {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    for (ip, names) in peers {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    Ok(out)
}

/// Rewrites the hosts file of every running container on network `key` (after a container
/// joined or left it). `hosts_file` gives a running container's hosts file path and its
/// hostname; the file is rewritten in place, as the container sees it through a bind mount.
pub fn refresh_hosts(
    store: &Store,
    key: &str,
    hosts_file: &dyn Fn(&str) -> Option<(PathBuf, String)>,
) -> Result<()> {
    let net = store.networks()?.find(key)?;
    for (id, _, a) in net.active() {
        if !a.holder.alive() {
            continue;
        }
        let Some((path, hostname)) = hosts_file(id) else {
            continue;
        };
        let content = hosts_content(store, id, &hostname)?;
        // In place: a rename would leave the container's bind mount on the old file.
        std::fs::write(&path, content).map_err(kernel(format!("write {}", path.display())))?;
    }
    Ok(())
}

/// The `/etc/resolv.conf` of a namespace behind a bridge, as docker writes it for its bridge
/// networks: the host's file without the nameservers on loopback (they do not answer in
/// another namespace; a systemd-resolved host's upstream file is used instead of its stub's),
/// and docker's fallback servers (8.8.8.8, 8.8.4.4) when none remains.
pub fn bridged_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let host = if nameservers(&host).all(is_loopback) {
        std::fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or(host)
    } else {
        host
    };
    filter_resolv_conf(&host)
}

fn nameservers(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("nameserver")).then(|| words.next().unwrap_or(""))
    })
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn filter_resolv_conf(text: &str) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            !(words.next() == Some("nameserver") && words.next().is_some_and(is_loopback))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if nameservers(&out).next().is_none() {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// What [`cleanup`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleanup {
    /// Interfaces deleted.
    pub interfaces: Vec<String>,
    /// Addresses freed (network name, `container <ID>` or a build's endpoint name).
    pub addresses: Vec<(String, String)>,
}

/// Finds what crashed processes left in the caller's namespace and the store: addresses of
/// dead holders, veths of endpoints that are not active, bridges of networks that no longer
/// exist. Removes them when `repair`.
pub fn cleanup(store: &Store, repair: bool) -> Result<Cleanup> {
    let nets = store.networks()?;
    let mut report = Cleanup::default();
    let list = nets.list()?;
    for net in &list {
        for (id, ep, a) in net.active() {
            if !a.holder.alive() {
                let owner = if ep.transient {
                    ep.container_name.clone()
                } else {
                    format!("container {id}")
                };
                report.addresses.push((net.name.clone(), owner));
            }
        }
    }
    if repair {
        reclaim(store, &nets)?;
    }
    let list = if repair { nets.list()? } else { list };
    let tag = store_tag(store);
    let prefix = format!("strata {tag} ");
    let mut sock = netlink::Socket::open().map_err(kernel("open a netlink socket"))?;
    let links = sock.links().map_err(kernel("list interfaces"))?;
    for link in links {
        let Some(rest) = link.alias.as_deref().and_then(|a| a.strip_prefix(&prefix)) else {
            continue;
        };
        let stale = if let Some(id) = rest.strip_prefix("network ") {
            !list.iter().any(|n| n.id == id)
        } else if let Some(id) = rest.strip_prefix("container ") {
            !list.iter().any(|n| {
                n.endpoints.get(id).is_some_and(|e| {
                    e.active
                        .as_ref()
                        .is_some_and(|a| a.host_interface == link.name && a.holder.alive())
                })
            })
        } else {
            false
        };
        if stale {
            if repair {
                sock.delete(&link.name)
                    .map_err(kernel(format!("delete {}", link.name)))?;
            }
            report.interfaces.push(link.name);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let f = super::filter_resolv_conf;
        assert_eq!(
            f("search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n"),
            "search lan\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            f("nameserver 127.0.0.1\nnameserver ::1\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(f(""), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
}
