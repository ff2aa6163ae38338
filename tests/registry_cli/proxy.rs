//! A fault-injecting HTTP/1.1 proxy in front of a real registry: it logs every request
//! (method and path) and can cut the connection in the middle of the body of the N-th
//! `PATCH`, as a network failure would. Responses pass through untouched.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the proxy saw and what it is told to break.
#[derive(Default)]
pub struct ProxyState {
    /// `(method, path)` of every request, in arrival order.
    pub requests: Mutex<Vec<(String, String)>>,
    /// Cut the PATCH with this 1-based number (0: none) ...
    pub cut_patch: AtomicUsize,
    /// ... after this many of its body bytes.
    pub cut_after: AtomicUsize,
    patches: AtomicUsize,
    /// PATCHes cut so far.
    pub cuts: AtomicUsize,
}

impl ProxyState {
    /// The logged requests, and a fresh log.
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// Starts a proxy on a free loopback port forwarding to `127.0.0.1:upstream`.
pub fn start_proxy(upstream: u16) -> (u16, Arc<ProxyState>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = Arc::new(ProxyState::default());
    let shared = state.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let state = shared.clone();
            std::thread::spawn(move || {
                if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) {
                    relay(client, server, &state);
                }
            });
        }
    });
    (port, state)
}

/// Forwards one connection: requests parsed (to log and maybe cut them), responses copied.
fn relay(client: TcpStream, server: TcpStream, state: &ProxyState) {
    let mut to_client = client.try_clone().unwrap();
    let mut from_server = server.try_clone().unwrap();
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut to_server = server.try_clone().unwrap();
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            break;
        };
        let (method, path) = (method.to_string(), path.to_string());
        head.extend_from_slice(line.as_bytes());
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return close(&client, &server, back);
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            head.extend_from_slice(h.as_bytes());
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        state.requests.lock().unwrap().push((
            method.clone(),
            path.split('?').next().unwrap_or("").to_string(),
        ));
        if to_server.write_all(&head).is_err() {
            break;
        }
        let mut limit = length;
        let mut cut = false;
        if method == "PATCH" {
            let n = state.patches.fetch_add(1, Ordering::SeqCst) + 1;
            if n == state.cut_patch.load(Ordering::SeqCst) {
                limit = state.cut_after.load(Ordering::SeqCst).min(length);
                cut = true;
            }
        }
        let copied = std::io::copy(&mut (&mut reader).take(limit as u64), &mut to_server);
        if cut {
            state.cuts.fetch_add(1, Ordering::SeqCst);
            return close(&client, &server, back);
        }
        if !matches!(copied, Ok(n) if n as usize == limit) {
            break;
        }
    }
    close(&client, &server, back)
}

fn close(client: &TcpStream, server: &TcpStream, back: std::thread::JoinHandle<()>) {
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
    let _ = back.join();
}
