//! Importing tar streams as layers: formats detected by content, bad input refused.

use sha2::{Digest as _, Sha256};
use std::io::Write;
use strata_builder::layer::{import_tar, Compression, LayerCompression};

fn sample_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, body) in [
        ("etc/hostname", &b"box\n"[..]),
        ("bin/tool", &[1u8; 5000][..]),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, name, body).unwrap();
    }
    builder.into_inner().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn plain_gzip_and_zstd_inputs_give_the_same_diff_id() {
    let tar = sample_tar();
    let gz = gzip(&tar);
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (input, kind) in [
        (&tar, Compression::None),
        (&gz, Compression::Gzip),
        (&zst, Compression::Zstd),
    ] {
        let (layer, blob) = import_tar(&input[..], Vec::new(), LayerCompression::Gzip(6)).unwrap();
        assert_eq!(layer.input_compression, kind);
        assert_eq!(layer.diff_id.to_string(), sha(&tar));
        assert_eq!(layer.uncompressed_size, tar.len() as u64);
        assert_eq!(layer.entries, 2);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut back)
            .unwrap();
        assert_eq!(back, tar);
    }
}

#[test]
fn output_is_deterministic() {
    let tar = sample_tar();
    let a = import_tar(&tar[..], Vec::new(), LayerCompression::Gzip(6))
        .unwrap()
        .1;
    let b = import_tar(&tar[..], Vec::new(), LayerCompression::Gzip(6))
        .unwrap()
        .1;
    assert_eq!(sha(&a), sha(&b));
}

#[test]
fn truncated_and_non_tar_inputs_are_refused() {
    let tar = sample_tar();
    let err = import_tar(&tar[..700], Vec::new(), LayerCompression::None).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = import_tar(&b"just some text"[..], Vec::new(), LayerCompression::None).unwrap_err();
    assert!(err.to_string().contains("tar"), "{err}");
    let gz = gzip(&tar);
    let err = import_tar(&gz[..gz.len() / 2], Vec::new(), LayerCompression::None).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}
