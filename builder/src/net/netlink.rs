//! A small rtnetlink client: just the link, address and route requests that container
//! networks need, synchronous, on a `NETLINK_ROUTE` socket (rustix). A socket acts in the
//! network namespace it was opened in (see [`super::netns::Netns::socket`]).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;

const AF_INET: u8 = 2;
const IFF_UP: u32 = 1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;

/// A link as a dump reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: i32,
    /// Interface name.
    pub name: String,
    /// `IFLA_IFALIAS`, where strata marks what it created.
    pub alias: Option<String>,
    /// The `IFLA_INFO_KIND` (`bridge`, `veth`, ...).
    pub kind: Option<String>,
    /// The index of the bridge it is enslaved to.
    pub master: Option<i32>,
}

/// A netlink message under construction: header, fixed part, attributes (nested ones by
/// [`Msg::nest`]/[`Msg::end`]).
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub(crate) fn new(kind: u16, flags: u16, fixed: &[u8]) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set by the socket
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        buf.extend_from_slice(fixed);
        pad(&mut buf);
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    pub(crate) fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    pub(crate) fn str(&mut self, kind: u16, s: &str) -> &mut Msg {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn u32(&mut self, kind: u16, v: u32) -> &mut Msg {
        self.attr(kind, &v.to_ne_bytes())
    }

    pub(crate) fn nest(&mut self, kind: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Raw bytes inside the current nest (the peer's ifinfomsg of a veth).
    fn raw(&mut self, data: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    pub(crate) fn end(&mut self) -> &mut Msg {
        let start = self.nests.pop().expect("balanced nests");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    pub(crate) fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// Parses `mac` (`02:42:ac:11:00:02`).
fn parse_mac(mac: &str) -> io::Result<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = mac.split(':').collect();
    if parts.len() != 6 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad MAC {mac}"),
        ));
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad MAC {mac}")))?;
    }
    Ok(out)
}

/// Iterates the attributes of `buf`: (type without flags, payload).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        let next = (len + 3) & !3;
        buf = &buf[next.min(buf.len())..];
        Some((kind, data))
    })
}

fn cstr(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// A `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Socket> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE is protocol 0
        )?;
        Ok(Socket { fd, seq: 0 })
    }

    fn send(&mut self, msg: Msg) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        rustix::net::send(&self.fd, &bytes, SendFlags::empty())?;
        Ok(seq)
    }

    /// Receives the replies to `seq`, calling `each` with (type, payload) of each message
    /// until the acknowledgement or the end of a dump.
    fn replies(&mut self, seq: u32, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            let mut rest = &buf[..n];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let flags = u16::from_ne_bytes([rest[6], rest[7]]);
                let mseq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
                if len < 16 || len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let payload = &rest[16..len];
                rest = &rest[((len + 3) & !3).min(rest.len())..];
                if mseq != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(
                            payload
                                .get(0..4)
                                .ok_or_else(|| {
                                    io::Error::new(io::ErrorKind::InvalidData, "short error")
                                })?
                                .try_into()
                                .expect("4 bytes"),
                        );
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    NLMSG_DONE => return Ok(()),
                    _ => {
                        each(kind, payload);
                        if flags & 0x2 == 0 {
                            // Not part of a multipart reply: the only answer.
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn request(&mut self, msg: Msg) -> io::Result<()> {
        let seq = self.send(msg)?;
        self.replies(seq, |_, _| {})
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut fixed = [0u8; 16];
        fixed[0] = 0; // AF_UNSPEC
        let seq = self.send(Msg::new(RTM_GETLINK, NLM_F_DUMP, &fixed))?;
        let mut links = Vec::new();
        self.replies(seq, |kind, payload| {
            if kind == RTM_NEWLINK && payload.len() >= 16 {
                links.push(parse_link(payload));
            }
        })?;
        Ok(links)
    }

    /// Every IPv4 address of the namespace: (interface index, address, prefix length).
    pub fn addresses(&mut self) -> io::Result<Vec<(i32, Ipv4Addr, u8)>> {
        let mut fixed = [0u8; 8];
        fixed[0] = AF_INET;
        let seq = self.send(Msg::new(RTM_GETADDR, NLM_F_DUMP, &fixed))?;
        let mut out = Vec::new();
        self.replies(seq, |kind, payload| {
            if kind != RTM_NEWADDR || payload.len() < 8 || payload[0] != AF_INET {
                return;
            }
            let prefix = payload[1];
            let index = u32::from_ne_bytes(payload[4..8].try_into().expect("4 bytes")) as i32;
            let mut addr = None;
            for (k, d) in attrs(&payload[8..]) {
                if (k == IFA_LOCAL || (k == IFA_ADDRESS && addr.is_none())) && d.len() == 4 {
                    addr = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
                }
            }
            if let Some(a) = addr {
                out.push((index, a, prefix));
            }
        })?;
        Ok(out)
    }

    /// The link called `name`, if any.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut msg = Msg::new(RTM_GETLINK, 0, &ifinfomsg(0, 0, 0));
        msg.str(IFLA_IFNAME, name);
        let seq = self.send(msg)?;
        let mut found = None;
        match self.replies(seq, |kind, payload| {
            if kind == RTM_NEWLINK && payload.len() >= 16 {
                found = Some(parse_link(payload));
            }
        }) {
            Ok(()) => Ok(found),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn index(&mut self, name: &str) -> io::Result<i32> {
        self.link(name)?
            .map(|l| l.index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}")))
    }

    /// Creates a bridge (`ip link add NAME type bridge`), marked with `alias`.
    pub fn add_bridge(&mut self, name: &str, alias: &str) -> io::Result<()> {
        let mut msg = Msg::new(
            RTM_NEWLINK,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(0, 0, 0),
        );
        msg.str(IFLA_IFNAME, name)
            .nest(IFLA_LINKINFO)
            .str(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(msg)?;
        self.set_alias(name, alias)
    }

    /// Sets the alias of link `name` (the kernel takes it only on an existing link).
    pub fn set_alias(&mut self, name: &str, alias: &str) -> io::Result<()> {
        let index = self.index(name)?;
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0));
        msg.str(IFLA_IFALIAS, alias);
        self.request(msg)
    }

    /// Creates a veth pair: `host` here, enslaved to `bridge` and marked with `alias`; `peer`
    /// in the namespace of `peer_ns` with the MAC address `mac`.
    pub fn add_veth(
        &mut self,
        host: &str,
        alias: &str,
        bridge: &str,
        peer: &str,
        peer_ns: &OwnedFd,
        mac: &str,
    ) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let master = self.index(bridge)?;
        let mac = parse_mac(mac)?;
        let mut msg = Msg::new(
            RTM_NEWLINK,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(0, 0, 0),
        );
        msg.str(IFLA_IFNAME, host)
            .u32(IFLA_MASTER, master as u32)
            .nest(IFLA_LINKINFO)
            .str(IFLA_INFO_KIND, "veth")
            .nest(IFLA_INFO_DATA)
            .nest(VETH_INFO_PEER)
            .raw(&ifinfomsg(0, 0, 0))
            .str(IFLA_IFNAME, peer)
            .attr(IFLA_ADDRESS, &mac)
            .u32(IFLA_NET_NS_FD, peer_ns.as_raw_fd() as u32)
            .end()
            .end()
            .end();
        self.request(msg)?;
        self.set_alias(host, alias)
    }

    /// Sets link `name` up.
    pub fn set_up(&mut self, name: &str) -> io::Result<()> {
        let index = self.index(name)?;
        let msg = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, IFF_UP, IFF_UP));
        self.request(msg)
    }

    /// Deletes link `name` (a veth takes its peer with it); Ok if it does not exist.
    pub fn delete(&mut self, name: &str) -> io::Result<()> {
        let Some(link) = self.link(name)? else {
            return Ok(());
        };
        let msg = Msg::new(RTM_DELLINK, NLM_F_ACK, &ifinfomsg(link.index, 0, 0));
        match self.request(msg) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// Adds `ip/prefix` to link `name`; Ok if it is already there.
    pub fn add_address(&mut self, name: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let index = self.index(name)?;
        let mut fixed = [0u8; 8];
        fixed[0] = AF_INET;
        fixed[1] = prefix;
        fixed[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let bcast = u32::from(ip) | (u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0));
        let mut msg = Msg::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed);
        msg.attr(IFA_LOCAL, &ip.octets())
            .attr(IFA_ADDRESS, &ip.octets());
        if prefix < 31 {
            msg.attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
        }
        match self.request(msg) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Adds the default route via `gateway`; Ok if a default route exists.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut fixed = [0u8; 12];
        fixed[0] = AF_INET;
        fixed[4] = RT_TABLE_MAIN;
        fixed[5] = RTPROT_BOOT;
        fixed[6] = 0; // RT_SCOPE_UNIVERSE
        fixed[7] = RTN_UNICAST;
        let mut msg = Msg::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed);
        msg.attr(RTA_GATEWAY, &gateway.octets());
        match self.request(msg) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }
}

fn parse_link(payload: &[u8]) -> Link {
    let index = i32::from_ne_bytes(payload[4..8].try_into().expect("4 bytes"));
    let mut link = Link {
        index,
        name: String::new(),
        alias: None,
        kind: None,
        master: None,
    };
    for (kind, data) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => link.name = cstr(data),
            IFLA_IFALIAS => link.alias = Some(cstr(data)),
            IFLA_MASTER if data.len() >= 4 => {
                link.master = Some(i32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")))
            }
            IFLA_LINKINFO => {
                for (k, d) in attrs(data) {
                    if k == IFLA_INFO_KIND {
                        link.kind = Some(cstr(d));
                    }
                }
            }
            _ => {}
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0));
        msg.str(IFLA_IFNAME, "br0")
            .nest(IFLA_LINKINFO)
            .str(IFLA_INFO_KIND, "bridge")
            .end();
        let bytes = msg.finish(7);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        let attrs: Vec<(u16, Vec<u8>)> =
            attrs(&bytes[32..]).map(|(k, d)| (k, d.to_vec())).collect();
        assert_eq!(attrs[0], (IFLA_IFNAME, b"br0\0".to_vec()));
        assert_eq!(attrs[1].0, IFLA_LINKINFO);
        let inner: Vec<(u16, Vec<u8>)> = super::attrs(&attrs[1].1)
            .map(|(k, d)| (k, d.to_vec()))
            .collect();
        assert_eq!(inner, [(IFLA_INFO_KIND, b"bridge\0".to_vec())]);
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert!(parse_mac("02:42").is_err());
    }
}
