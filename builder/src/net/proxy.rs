//! Published ports (`-p`): a userland proxy like docker's `docker-proxy`, run by the process
//! that supervises the container. It listens on the host address and port in the caller's
//! network namespace and relays each TCP connection (or UDP exchange) to the container's
//! address. Chosen over nftables DNAT because it needs no firewall state to undo after a
//! crash — the listening sockets die with the process — and it serves 127.0.0.1, which DNAT
//! reaches only with `route_localnet`.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One `-p [IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address (127.0.0.1 unless given).
    pub host_ip: Ipv4Addr,
    /// The host port (0: one the kernel picks).
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub proto: Proto,
}

impl PortMapping {
    /// Parses `-p`: `HOST_PORT:CONTAINER_PORT`, `IP:HOST_PORT:CONTAINER_PORT`,
    /// `IP::CONTAINER_PORT`, `CONTAINER_PORT` (a port the kernel picks), each with an
    /// optional `/tcp` or `/udp`.
    pub fn parse(s: &str) -> Result<PortMapping, String> {
        let bad = |why: &str| format!("invalid publish spec {s:?}: {why}");
        let (spec, proto) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Proto::Tcp),
            Some((spec, "udp")) => (spec, Proto::Udp),
            Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?}"))),
            None => (s, Proto::Tcp),
        };
        let port = |p: &str| -> Result<u16, String> {
            p.parse::<u16>()
                .map_err(|_| bad(&format!("invalid port {p:?}")))
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => (None, "0", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some(*ip), *h, *c),
            _ => return Err(bad("expected [IP:]HOST_PORT:CONTAINER_PORT")),
        };
        let host_ip = match ip {
            Some(ip) => ip
                .parse()
                .map_err(|_| bad(&format!("invalid IPv4 address {ip:?}")))?,
            None => Ipv4Addr::LOCALHOST,
        };
        let host_port = if host.is_empty() { 0 } else { port(host)? };
        let container_port = port(ctr)?;
        if container_port == 0 {
            return Err(bad("the container port must not be 0"));
        }
        Ok(PortMapping {
            host_ip,
            host_port,
            container_port,
            proto,
        })
    }
}

impl fmt::Display for PortMapping {
    /// docker's `port` form: `80/tcp -> 127.0.0.1:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} -> {}:{}",
            self.container_port, self.proto, self.host_ip, self.host_port
        )
    }
}

/// Running relays; stopped (sockets closed) on drop.
#[derive(Debug)]
pub struct Proxy {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    bound: Vec<PortMapping>,
}

impl Proxy {
    /// Binds every mapping now (so a taken port fails the start, with docker's message) and
    /// relays to `target`.
    pub fn start(mappings: &[PortMapping], target: Ipv4Addr) -> io::Result<Proxy> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut bound = Vec::new();
        let taken = |m: &PortMapping, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "Bind for {}:{} failed: port is already allocated ({e})",
                    m.host_ip, m.host_port
                ),
            )
        };
        for m in mappings {
            let addr = SocketAddrV4::new(m.host_ip, m.host_port);
            let to = SocketAddr::V4(SocketAddrV4::new(target, m.container_port));
            match m.proto {
                Proto::Tcp => {
                    let l = TcpListener::bind(addr).map_err(|e| taken(m, e))?;
                    l.set_nonblocking(true)?;
                    let port = l.local_addr()?.port();
                    bound.push(PortMapping {
                        host_port: port,
                        ..m.clone()
                    });
                    let stop = stop.clone();
                    threads.push(std::thread::spawn(move || tcp_accept(l, to, stop)));
                }
                Proto::Udp => {
                    let s = UdpSocket::bind(addr).map_err(|e| taken(m, e))?;
                    s.set_read_timeout(Some(Duration::from_millis(200)))?;
                    let port = s.local_addr()?.port();
                    bound.push(PortMapping {
                        host_port: port,
                        ..m.clone()
                    });
                    let stop = stop.clone();
                    threads.push(std::thread::spawn(move || udp_relay(s, to, stop)));
                }
            }
        }
        Ok(Proxy {
            stop,
            threads,
            bound,
        })
    }

    /// The mappings as bound (ports the kernel picked filled in).
    pub fn bound(&self) -> &[PortMapping] {
        &self.bound
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn tcp_accept(listener: TcpListener, to: SocketAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                std::thread::spawn(move || {
                    if let Ok(upstream) = TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
                        splice(client, upstream);
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Copies both ways until both sides closed; a half-close is passed on.
fn splice(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let one = std::thread::spawn(move || copy_then_shutdown(a, b2));
    copy_then_shutdown(b, a2);
    let _ = one.join();
}

fn copy_then_shutdown(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn udp_relay(socket: UdpSocket, to: SocketAddr, stop: Arc<AtomicBool>) {
    let socket = Arc::new(socket);
    // One upstream socket per client, so replies find their way back.
    let clients: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, client)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let upstream = {
            let mut map = clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(u) = map.get(&client) {
                u.clone()
            } else {
                let Ok(u) = UdpSocket::bind("0.0.0.0:0").and_then(|u| {
                    u.connect(to)?;
                    u.set_read_timeout(Some(Duration::from_millis(200)))?;
                    Ok(Arc::new(u))
                }) else {
                    continue;
                };
                map.insert(client, u.clone());
                let (u2, back, stop2) = (u.clone(), socket.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while !stop2.load(Ordering::SeqCst) {
                        if let Ok(n) = u2.recv(&mut buf) {
                            let _ = back.send_to(&buf[..n], client);
                        }
                    }
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn parse() {
        let m = PortMapping::parse("8080:80").unwrap();
        assert_eq!(
            m,
            PortMapping {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp
            }
        );
        let m = PortMapping::parse("0.0.0.0:53:53/udp").unwrap();
        assert_eq!(m.host_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.proto, Proto::Udp);
        assert_eq!(PortMapping::parse("127.0.0.1::80").unwrap().host_port, 0);
        assert_eq!(PortMapping::parse("80").unwrap().host_port, 0);
        assert!(PortMapping::parse("80:http").is_err());
        assert!(PortMapping::parse("80:80/sctp").is_err());
        assert!(PortMapping::parse("1:2:3:4").is_err());
    }

    #[test]
    fn relays_tcp_on_loopback() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            let (mut c, _) = server.accept().unwrap();
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).unwrap();
            c.write_all(&buf).unwrap();
        });
        let proxy = Proxy::start(
            &[PortMapping {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 0,
                container_port: port,
                proto: Proto::Tcp,
            }],
            Ipv4Addr::LOCALHOST,
        )
        .unwrap();
        let front = proxy.bound()[0].host_port;
        let mut c = TcpStream::connect(("127.0.0.1", front)).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"hello");
        echo.join().unwrap();
        // A second proxy on the same port is refused with docker's words.
        let err = Proxy::start(&proxy.bound()[..1], Ipv4Addr::LOCALHOST).unwrap_err();
        assert!(
            err.to_string().contains("port is already allocated"),
            "{err}"
        );
    }
}
