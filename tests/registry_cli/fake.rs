//! A tiny fake registry for the fault tests: one thread per connection, `Connection: close`,
//! replies from a handler that may send wrong bytes, error statuses or cut a body short.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use strata_cache::Digest;

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this many body bytes (Content-Length still says all).
    pub cut_after: Option<usize>,
    /// Close the connection without answering (the request was lost half-way).
    pub drop: bool,
}

impl Reply {
    pub fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
            cut_after: None,
            drop: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Handler = dyn Fn(&str, &str, &HashMap<String, String>) -> Reply + Send + Sync;

/// Request bodies the fake registry received, by path.
pub type Bodies = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `handler` on a free loopback port, one thread per connection, `Connection: close`.
pub fn fake_registry(handler: Arc<Handler>) -> u16 {
    fake_registry_recording(handler, Bodies::default())
}

pub fn fake_registry_recording(handler: Arc<Handler>, bodies: Bodies) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            let bodies = bodies.clone();
            std::thread::spawn(move || serve_one(stream, &*handler, &bodies));
        }
    });
    port
}

pub fn serve_one(stream: TcpStream, handler: &Handler, bodies: &Bodies) {
    serve_one_with(stream, &|m, p, h, _| handler(m, p, h), bodies)
}

/// A handler that sees the request body too.
pub type BodyHandler = dyn Fn(&str, &str, &HashMap<String, String>, &[u8]) -> Reply + Send + Sync;

/// A borrowed handler that sees request bodies.
type BodyFn<'a> = dyn Fn(&str, &str, &HashMap<String, String>, &[u8]) -> Reply + 'a;

/// Serves `handler` (which sees request bodies) on a free loopback port.
pub fn fake_registry_with_bodies(handler: Arc<BodyHandler>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || serve_one_with(stream, &*handler, &Bodies::default()));
        }
    });
    port
}

fn serve_one_with(mut stream: TcpStream, handler: &BodyFn<'_>, bodies: &Bodies) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    // A TLS probe is not text: drop it.
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return;
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
        return;
    }
    if length > 0 {
        bodies.lock().unwrap().push((path.clone(), body.clone()));
    }
    let reply = handler(&method, &path, &headers, &body);
    if reply.drop {
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let end = reply.cut_after.unwrap_or(reply.body.len());
        let _ = stream.write_all(&reply.body[..end]);
    }
    let _ = stream.flush();
}

/// A one-layer image: (manifest, config, layer) bytes.
pub fn small_image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut builder = tar::Builder::new(Vec::new());
    let data = vec![b'x'; 100_000];
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "file", &data[..]).unwrap();
    let layer = builder.into_inner().unwrap();
    let host = strata_builder::image::host_platform();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": host.architecture, "os": host.os,
        "rootfs": {"type": "layers", "diff_ids": [Digest::of_bytes(&layer).to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": Digest::of_bytes(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": Digest::of_bytes(&layer).to_string(), "size": layer.len()}],
    }))
    .unwrap();
    (manifest, config, layer)
}

/// A handler serving `small_image`, with the layer's bytes from `layer_reply`.
pub fn serve_image(
    layer_reply: impl Fn(&HashMap<String, String>, &[u8]) -> Reply + Send + Sync + 'static,
) -> Arc<Handler> {
    let (manifest, config, layer) = small_image();
    let manifest_hits = AtomicUsize::new(0);
    Arc::new(
        move |_method: &str, path: &str, headers: &HashMap<String, String>| {
            let blob = |b: &[u8]| path.ends_with(&format!("/blobs/{}", Digest::of_bytes(b)));
            if path == "/v2/" {
                Reply::new(200, b"{}".to_vec())
            } else if path.ends_with("/manifests/latest") {
                // The first answer asks us to come back later.
                if manifest_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Reply::new(429, Vec::new()).header("Retry-After", "0");
                }
                Reply::new(200, manifest.clone())
                    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            } else if blob(&config) {
                Reply::new(200, config.clone())
            } else if blob(&layer) {
                layer_reply(headers, &layer)
            } else {
                Reply::new(404, Vec::new())
            }
        },
    )
}
