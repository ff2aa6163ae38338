//! Platforms as `--platform` spells them (`linux/arm64/v8`) and the choice of a manifest
//! from an index or manifest list, as containerd's default matcher makes it.

use crate::error::{RegistryError, Result};
use strata_cache::{Descriptor, ImageIndex, Platform};

/// Parses `OS/ARCH[/VARIANT]` (also `ARCH` alone, meaning linux).
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || RegistryError::BadPlatform(s.to_string());
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let (os, arch, variant) = match parts.as_slice() {
        [arch] => ("linux", *arch, None),
        [os, arch] => (*os, *arch, None),
        [os, arch, variant] => (*os, *arch, Some(variant.to_string())),
        _ => return Err(bad()),
    };
    let (architecture, variant) = normalize_arch(&arch.to_ascii_lowercase(), variant);
    Ok(Platform {
        architecture,
        os: os.to_ascii_lowercase(),
        variant,
        ..Default::default()
    })
}

/// containerd's normalization: `x86_64` is amd64, `aarch64` is arm64 (variant v8 implied).
fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant),
        "aarch64" | "arm64" => {
            let variant = variant.filter(|v| v != "v8" && v != "8");
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "386" => ("386".into(), variant),
        other => (other.to_string(), variant),
    }
}

/// `os/arch[/variant]` for messages.
pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

fn matches(wanted: &Platform, offered: &Platform) -> bool {
    let (arch, variant) = normalize_arch(&offered.architecture, offered.variant.clone());
    wanted.os == offered.os
        && wanted.architecture == arch
        && (wanted.variant.is_none() || wanted.variant == variant)
}

/// The index entry for `wanted`: the first manifest whose platform matches (entries
/// without a platform, such as attestations, never do).
pub fn select_manifest(index: &ImageIndex, wanted: &Platform) -> Result<Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| matches(wanted, p)))
        .cloned()
        .ok_or_else(|| RegistryError::NoMatchingPlatform {
            platform: platform_string(wanted),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(platform_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_cache::Digest;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(
            strata_cache::oci::media_type::OCI_MANIFEST,
            Digest::of_bytes(&[n]),
            1,
        );
        d.platform = Some(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
            ..Default::default()
        });
        d
    }

    #[test]
    fn parse() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant),
            ("linux", "arm64", None)
        );
        let p = parse_platform("linux/arm/v7").unwrap();
        assert_eq!(p.variant.as_deref(), Some("v7"));
        assert_eq!(parse_platform("x86_64").unwrap().architecture, "amd64");
        assert!(parse_platform("linux/").is_err());
        assert!(parse_platform("a/b/c/d").is_err());
    }

    #[test]
    fn select() {
        let index = ImageIndex {
            manifests: vec![
                entry("linux", "arm", Some("v6"), 1),
                entry("linux", "arm", Some("v7"), 2),
                entry("linux", "arm64", Some("v8"), 3),
                entry("linux", "amd64", None, 4),
            ],
            ..Default::default()
        };
        let pick = |s: &str| select_manifest(&index, &parse_platform(s).unwrap());
        assert_eq!(pick("linux/amd64").unwrap().digest, Digest::of_bytes(&[4]));
        assert_eq!(pick("linux/arm64").unwrap().digest, Digest::of_bytes(&[3]));
        assert_eq!(pick("linux/arm/v7").unwrap().digest, Digest::of_bytes(&[2]));
        assert_eq!(pick("linux/arm").unwrap().digest, Digest::of_bytes(&[1]));
        let err = pick("windows/amd64").unwrap_err().to_string();
        assert!(
            err.contains("windows/amd64") && err.contains("linux/arm/v6"),
            "{err}"
        );
    }
}
