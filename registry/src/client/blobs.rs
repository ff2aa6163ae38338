//! Blobs: existence checks and downloads streamed into the caller's writer with the digest
//! verified on the fly (resumed with `Range` after a dropped connection). Uploads are in
//! `upload.rs`.

use super::{check, Client, Target};
use crate::error::{RegistryError, Result};
use crate::Reference;
use std::io::{self, Read, Write};
use strata_cache::{Digest, DigestWriter};

/// Copies until end of input, telling read failures (retryable) from write failures (not).
enum CopyError {
    Read(io::Error),
    Write(io::Error),
    TooLong,
}

fn copy_bounded(
    from: &mut dyn Read,
    to: &mut DigestWriter<&mut dyn Write>,
    limit: Option<u64>,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if limit.is_some_and(|l| to.bytes_written() + n as u64 > l) {
            return Err(CopyError::TooLong);
        }
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

impl Client {
    fn blob_url(&self, reference: &Reference, digest: &Digest) -> String {
        format!(
            "{}/v2/{}/blobs/{digest}",
            self.endpoint(reference.domain()),
            reference.path()
        )
    }

    /// `HEAD` a blob: its size when the repository has it, `None` when not.
    pub fn blob_exists(&self, reference: &Reference, digest: &Digest) -> Result<Option<u64>> {
        self.blob_exists_for(&Target::pull(reference), reference, digest)
    }

    pub(crate) fn blob_exists_for(
        &self,
        target: &Target,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        let url = self.blob_url(reference, digest);
        let what = format!("HEAD {url}");
        let resp = self.execute(target, &what, true, &mut |agent, authz| {
            let mut req = agent.head(&url);
            if let Some(a) = authz {
                req = req.header("Authorization", a);
            }
            req.call()
        })?;
        if resp.status() == 404 {
            return Ok(None);
        }
        let resp = check(resp, &what)?;
        Ok(Some(
            resp.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// Streams the blob `digest` into `out`, hashing as it goes; fails with
    /// [`RegistryError::DigestMismatch`] when the bytes (or their count, if `size` is given)
    /// are not the blob's, in which case the caller must discard what `out` received. A
    /// dropped connection resumes with a `Range` request. Returns the byte count.
    pub fn get_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let target = Target::pull(reference);
        let url = self.blob_url(reference, digest);
        let what = format!("GET {url}");
        let mut writer = DigestWriter::new(out);
        let mut attempt = 0;
        loop {
            let offset = writer.bytes_written();
            let resp = self.execute(&target, &what, true, &mut |agent, authz| {
                let mut req = agent.get(&url);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                if offset > 0 {
                    req = req.header("Range", format!("bytes={offset}-"));
                }
                req.call()
            })?;
            let mut resp = check(resp, &what)?;
            let partial = resp.status() == 206;
            let mut body = resp.body_mut().as_reader();
            if offset > 0 && !partial {
                // No range support: the body starts over; skip what we already have. The
                // hash covers exactly the bytes written, so the check at the end stays sound.
                let skipped = io::copy(&mut (&mut body).take(offset), &mut io::sink());
                if !matches!(skipped, Ok(n) if n == offset) {
                    attempt += 1;
                    if attempt > self.retries() {
                        return Err(RegistryError::io(
                            &what,
                            io::ErrorKind::UnexpectedEof.into(),
                        ));
                    }
                    continue;
                }
            }
            match copy_bounded(&mut body, &mut writer, size) {
                Ok(()) => break,
                Err(CopyError::Write(e)) => return Err(RegistryError::io(&what, e)),
                Err(CopyError::TooLong) => {
                    return Err(mismatch(&what, digest, size, &writer, true));
                }
                Err(CopyError::Read(e)) => {
                    attempt += 1;
                    if attempt > self.retries() {
                        return Err(RegistryError::io(&what, e));
                    }
                    tracing::info!(
                        "{what}: {e} after {} bytes, resuming",
                        writer.bytes_written()
                    );
                    std::thread::sleep(self.backoff_plain(attempt - 1));
                }
            }
        }
        if writer.digest() != *digest || size.is_some_and(|s| s != writer.bytes_written()) {
            return Err(mismatch(&what, digest, size, &writer, false));
        }
        writer.flush().map_err(|e| RegistryError::io(&what, e))?;
        Ok(writer.bytes_written())
    }
}

fn mismatch(
    what: &str,
    digest: &Digest,
    size: Option<u64>,
    writer: &DigestWriter<&mut dyn Write>,
    too_long: bool,
) -> RegistryError {
    RegistryError::DigestMismatch {
        what: if too_long {
            format!("{what} (longer than announced)")
        } else {
            what.to_string()
        },
        expected: *digest,
        expected_size: size.unwrap_or(0),
        actual: writer.digest(),
        actual_size: writer.bytes_written(),
    }
}
