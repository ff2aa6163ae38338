//! Blob uploads streamed from the caller's seekable source: skipped when the repository has
//! the blob, mounted from another repository when possible, else a POST session finished
//! by one streamed PUT (small blobs) or by PATCH chunks and an empty PUT (large blobs).
//!
//! A failed chunk is resumed where the registry says the upload stands (`GET` on the upload
//! URL, its `Range` header), so a dropped connection costs at most one chunk. When the
//! registry cannot say (the distribution registry refuses an upload whose size moved past
//! its recorded state), the upload starts over in a new session.

use super::{check, retryable_status, status_error, Client, Target};
use crate::error::{RegistryError, Result};
use crate::Reference;
use std::io::{self, Read, Seek, SeekFrom};
use strata_cache::Digest;
use ureq::http::Response;
use ureq::Body;

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry already had it in this repository (HEAD found it).
    Exists,
    /// The registry linked it from another repository (cross-repository mount).
    Mounted,
    /// Its bytes were uploaded.
    Uploaded,
}

/// Why an upload session ended without the blob.
enum Failed {
    /// Worth a new session (the registry lost or refused the session, or the transfer failed).
    Session(RegistryError),
    /// Not worth retrying (our source failed, or the registry refused the blob itself).
    Fatal(RegistryError),
}

/// An upload session's URL, as the registry last gave it (absolute).
struct Session {
    endpoint: String,
    location: String,
}

impl Session {
    /// Takes the `Location` header of `resp` when it has one (relative URLs resolved).
    fn follow(&mut self, resp: &Response<Body>) {
        if let Some(location) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
            self.location = absolute(&self.endpoint, location);
        }
    }

    /// The location without its query (state tokens are long and mean nothing to a reader).
    fn display(&self) -> &str {
        self.location.split('?').next().unwrap_or("")
    }
}

fn absolute(endpoint: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{endpoint}{location}")
    }
}

/// The byte count a `Range: 0-END` answer stands for. The distribution registry answers
/// `0-0` for an empty upload too, so `0-0` means nothing received unless bytes were
/// acknowledged before.
fn received(resp: &Response<Body>, acknowledged: u64) -> Option<u64> {
    let value = resp.headers().get("range")?.to_str().ok()?;
    let value = value.trim().trim_start_matches("bytes=");
    let (start, end) = value.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if start != 0 {
        return None;
    }
    Some(if end == 0 && acknowledged == 0 {
        0
    } else {
        end + 1
    })
}

impl Client {
    /// Uploads a blob of `size` bytes read from what `open` returns (called again for each
    /// attempt; chunked uploads seek it to where they resume), unless the repository has it
    /// already. When `mount_from` names another repository of the same registry holding the
    /// blob, asks for a mount first. Blobs of at least [`ClientOptions::chunk_threshold`]
    /// bytes go in chunks of [`ClientOptions::chunk_size`].
    ///
    /// [`ClientOptions::chunk_threshold`]: super::ClientOptions::chunk_threshold
    /// [`ClientOptions::chunk_size`]: super::ClientOptions::chunk_size
    pub fn push_blob<R: Read + Seek>(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        mount_from: Option<&str>,
        open: &mut dyn FnMut() -> io::Result<R>,
    ) -> Result<BlobPush> {
        let mut target = Target::push(reference);
        if let Some(from) = mount_from {
            target.scopes.push(format!("repository:{from}:pull"));
        }
        if self.blob_exists_for(&target, reference, digest)?.is_some() {
            return Ok(BlobPush::Exists);
        }
        let chunk = self.options.chunk_size;
        let chunked = chunk > 0 && size >= self.options.chunk_threshold && size > 0;
        let mut attempt = 0;
        loop {
            // A session that failed after its last byte may have completed the blob.
            if attempt > 0 && self.blob_exists_for(&target, reference, digest)?.is_some() {
                return Ok(BlobPush::Uploaded);
            }
            let Some(mut session) = self.start_upload(&target, reference, digest, mount_from)?
            else {
                return Ok(BlobPush::Mounted);
            };
            let outcome = if chunked {
                self.send_chunks(&target, &mut session, size, chunk, open)
                    .and_then(|()| self.put_final::<R>(&target, &session, digest, None))
            } else {
                self.put_final(&target, &session, digest, Some((size, open)))
            };
            let error = match outcome {
                Ok(()) => return Ok(BlobPush::Uploaded),
                Err(Failed::Fatal(e)) => return Err(e),
                Err(Failed::Session(e)) => e,
            };
            attempt += 1;
            if attempt > self.retries() {
                return Err(error);
            }
            tracing::info!("{error}; retrying the upload in a new session");
            std::thread::sleep(self.backoff_plain(attempt - 1));
        }
    }

    /// Uploads a blob whose digest is known only once `body` ends (a layer compressed while
    /// it is sent): `POST`, one `PATCH` streaming `body` (chunked transfer encoding), then
    /// `PUT ...?digest=` with what `digest` returns at that point; `None` from it abandons
    /// the upload (the content turned out wrong). No retries: a caller that still has the
    /// bytes falls back to [`Client::push_blob`].
    pub fn push_blob_stream(
        &self,
        reference: &Reference,
        body: &mut dyn Read,
        digest: &mut dyn FnMut() -> Option<Digest>,
    ) -> Result<()> {
        let target = Target::push(reference);
        let probe = Digest::of_bytes(b"");
        let mut session = self
            .start_upload(&target, reference, &probe, None)?
            .ok_or_else(|| RegistryError::Status {
                what: "POST upload".into(),
                status: 201,
                message: "the registry did not open an upload session".into(),
            })?;
        let what = format!("PATCH {}", session.display());
        let location = session.location.clone();
        let mut body = Some(body);
        let resp = self.execute(&target, &what, false, &mut |agent, authz| {
            let mut req = agent
                .patch(&location)
                .header("Content-Type", "application/octet-stream");
            if let Some(a) = authz {
                req = req.header("Authorization", a);
            }
            match body.take() {
                Some(b) => req.send(ureq::SendBody::from_reader(b)),
                // The stream cannot be sent twice (an auth challenge mid-way).
                None => Err(ureq::Error::Io(io::ErrorKind::Other.into())),
            }
        })?;
        let resp = check(resp, &what)?;
        session.follow(&resp);
        let Some(digest) = digest() else {
            return Err(RegistryError::io(
                "streamed upload",
                io::Error::other("abandoned: the content was refused"),
            ));
        };
        match self.put_final::<io::Empty>(&target, &session, &digest, None) {
            Ok(()) => Ok(()),
            Err(Failed::Session(e) | Failed::Fatal(e)) => Err(e),
        }
    }

    /// `POST .../blobs/uploads/` (with a mount request): the session, or `None` when the
    /// registry mounted the blob.
    fn start_upload(
        &self,
        target: &Target,
        reference: &Reference,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<Option<Session>> {
        let endpoint = self.endpoint(reference.domain());
        let mut url = format!("{endpoint}/v2/{}/blobs/uploads/", reference.path());
        if let Some(from) = mount_from {
            url = format!("{url}?mount={digest}&from={from}");
        }
        let what = format!("POST {url}");
        let resp = self.execute(target, &what, true, &mut |agent, authz| {
            let mut req = agent.post(&url).header("Content-Length", "0");
            if let Some(a) = authz {
                req = req.header("Authorization", a);
            }
            req.send_empty()
        })?;
        let resp = check(resp, &what)?;
        if resp.status() == 201 && mount_from.is_some() {
            return Ok(None);
        }
        let mut session = Session {
            endpoint,
            location: String::new(),
        };
        session.follow(&resp);
        if session.location.is_empty() {
            return Err(RegistryError::Status {
                what,
                status: resp.status().as_u16(),
                message: "no upload location".into(),
            });
        }
        Ok(Some(session))
    }

    /// The closing `PUT ...?digest=`, carrying the whole blob when `body` is given (docker's
    /// monolithic upload), empty after chunks.
    fn put_final<R: Read + Seek>(
        &self,
        target: &Target,
        session: &Session,
        digest: &Digest,
        mut body: Option<(u64, &mut dyn FnMut() -> io::Result<R>)>,
    ) -> Result<(), Failed> {
        let mut url = session.location.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let what = format!("PUT {}", session.display());
        let mut source_failed = None;
        let sent = self.execute(target, &what, false, &mut |agent, authz| {
            let mut req = agent
                .put(&url)
                .header("Content-Type", "application/octet-stream");
            if let Some(a) = authz {
                req = req.header("Authorization", a);
            }
            match &mut body {
                None => req.header("Content-Length", "0").send_empty(),
                Some((size, open)) => {
                    let reader = match open() {
                        Ok(r) => r,
                        Err(e) => {
                            source_failed = Some(e);
                            return Err(ureq::Error::Io(io::ErrorKind::Other.into()));
                        }
                    };
                    let mut reader = reader.take(*size);
                    req.header("Content-Length", size.to_string())
                        .send(ureq::SendBody::from_reader(&mut reader))
                }
            }
        });
        if let Some(e) = source_failed {
            return Err(Failed::Fatal(source_error(e)));
        }
        match sent {
            Ok(resp) if resp.status().is_success() => Ok(()),
            // The registry checked the bytes and refused them: another session would not
            // change that.
            Ok(resp) if resp.status() == 400 => Err(Failed::Fatal(status_error(resp, &what))),
            Ok(resp) => Err(Failed::Session(status_error(resp, &what))),
            Err(e) => Err(Failed::Session(e)),
        }
    }

    /// `PATCH` chunks of `chunk` bytes from where the session stands to the end. A failed
    /// chunk asks the registry how much it has and goes on from there.
    fn send_chunks<R: Read + Seek>(
        &self,
        target: &Target,
        session: &mut Session,
        size: u64,
        chunk: u64,
        open: &mut dyn FnMut() -> io::Result<R>,
    ) -> Result<(), Failed> {
        let mut source = open().map_err(|e| Failed::Fatal(source_error(e)))?;
        let mut offset = 0u64;
        let mut failures = 0u32;
        while offset < size {
            let len = chunk.min(size - offset);
            let what = format!(
                "PATCH {} ({offset}-{})",
                session.display(),
                offset + len - 1
            );
            let mut source_failed = None;
            let location = session.location.clone();
            let sent = self.execute(target, &what, false, &mut |agent, authz| {
                if let Err(e) = source.seek(SeekFrom::Start(offset)) {
                    source_failed = Some(e);
                    return Err(ureq::Error::Io(io::ErrorKind::Other.into()));
                }
                let mut body = (&mut source).take(len);
                let mut req = agent
                    .patch(&location)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                    .header("Content-Length", len.to_string());
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.send(ureq::SendBody::from_reader(&mut body))
            });
            if let Some(e) = source_failed {
                return Err(Failed::Fatal(source_error(e)));
            }
            let failure = match sent {
                Ok(resp) if resp.status() == 202 || resp.status() == 204 => {
                    session.follow(&resp);
                    // Trust the registry's count over ours; it is what the next chunk must
                    // start at.
                    offset = received(&resp, offset + len)
                        .unwrap_or(offset + len)
                        .min(size);
                    failures = 0;
                    continue;
                }
                Ok(resp) if retryable_status(resp.status()) || resp.status() == 416 => {
                    status_error(resp, &what)
                }
                Ok(resp) => return Err(Failed::Session(status_error(resp, &what))),
                Err(e) => e,
            };
            failures += 1;
            if failures > self.retries() {
                return Err(Failed::Session(failure));
            }
            tracing::info!("{failure}; asking the registry where the upload stands");
            std::thread::sleep(self.backoff_plain(failures - 1));
            offset = self.upload_status(target, session, offset, size)?;
        }
        Ok(())
    }

    /// `GET` the upload URL: how many bytes the registry holds (its `Range`), and the URL to
    /// go on with. A registry that no longer knows the session ends it.
    fn upload_status(
        &self,
        target: &Target,
        session: &mut Session,
        acknowledged: u64,
        size: u64,
    ) -> Result<u64, Failed> {
        let what = format!("GET {}", session.display());
        let location = session.location.clone();
        let resp = self
            .execute(target, &what, true, &mut |agent, authz| {
                let mut req = agent.get(&location);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.call()
            })
            .map_err(Failed::Session)?;
        if !resp.status().is_success() {
            return Err(Failed::Session(status_error(resp, &what)));
        }
        session.follow(&resp);
        let Some(offset) = received(&resp, acknowledged) else {
            return Err(Failed::Session(RegistryError::Status {
                what,
                status: resp.status().as_u16(),
                message: "no usable Range header".into(),
            }));
        };
        if offset > size {
            return Err(Failed::Session(RegistryError::Status {
                what,
                status: resp.status().as_u16(),
                message: format!("the registry holds {offset} bytes of a {size}-byte blob"),
            }));
        }
        tracing::info!("{what}: the registry holds {offset} bytes, resuming there");
        Ok(offset)
    }
}

fn source_error(e: io::Error) -> RegistryError {
    RegistryError::io("reading the blob to upload", e)
}
