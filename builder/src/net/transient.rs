//! A network namespace on a network for what is no container: a build's RUN steps join one
//! (BuildKit's default network is a bridged one with outbound traffic). Its endpoint is
//! transient in the records (gone with it, or with this process, see
//! [`strata_cache::network::NetworkSet::reclaim`]) and its veth host end carries the usual
//! alias, so `system check` finds what a killed build left.

use std::path::PathBuf;
use std::time::Instant;

use strata_cache::network::Holder;
use strata_cache::Store;

use super::{delete_link, kernel, random_hex, wire_endpoint, Attachment, Netns, Result};

/// A network namespace of this process with one interface on a network, its address held by
/// this process. Dropping it deletes the veth pair, releases the address and closes the
/// namespace.
#[derive(Debug)]
pub struct Transient {
    store: Store,
    id: String,
    attachment: Attachment,
    // Dropped last: the namespace outlives the teardown of its interface.
    netns: Netns,
}

impl Transient {
    /// A new namespace on network `key` (`bridge`, or a user network's name or ID), named
    /// `name` in the network's records (`network inspect`).
    pub fn join(store: &Store, key: &str, name: &str) -> Result<Transient> {
        let started = Instant::now();
        let netns = Netns::create().map_err(kernel("create a network namespace"))?;
        let nets = store.networks()?;
        let id = {
            let bytes: [u8; 32] = rand::random();
            hex::encode(bytes)
        };
        let host_if = format!("veth{}", random_hex(7));
        let (net, endpoint) =
            nets.update(|s| s.activate_transient(key, &id, name, Holder::current(), &host_if))?;
        let attachment = wire_endpoint(store, &netns, net, &id, endpoint, true)?;
        tracing::debug!(
            "network namespace for {name}: {} {}/{} on {} ({}) in {:.1?}",
            attachment.interface,
            attachment.endpoint.ip,
            attachment.prefix,
            attachment.network,
            attachment.endpoint.host_interface,
            started.elapsed()
        );
        Ok(Transient {
            store: store.clone(),
            id,
            attachment,
            netns,
        })
    }

    /// The path a sandbox joins the namespace by (valid while this value lives).
    pub fn netns_path(&self) -> PathBuf {
        self.netns.path()
    }

    /// The interface, address and network.
    pub fn attachment(&self) -> &Attachment {
        &self.attachment
    }
}

impl Drop for Transient {
    fn drop(&mut self) {
        let started = Instant::now();
        let a = &self.attachment;
        if let Err(e) = delete_link(Some(&a.endpoint.host_interface)) {
            tracing::warn!("delete {}: {e}", a.endpoint.host_interface);
        }
        let released = self
            .store
            .networks()
            .and_then(|n| n.update(|s| s.disconnect(&a.network_id, &self.id)));
        match released {
            Ok(_) => tracing::debug!(
                "network namespace torn down: {} deleted, {} released on {} in {:.1?}",
                a.endpoint.host_interface,
                a.endpoint.ip,
                a.network,
                started.elapsed()
            ),
            // `system check --repair` frees it: its holder (this process) is about to end.
            Err(e) => tracing::warn!("release {} on {}: {e}", a.endpoint.ip, a.network),
        }
    }
}
