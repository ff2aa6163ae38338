//! The two spellings of a deletion: OCI layer whiteouts (`.wh.NAME`, `.wh..wh..opq`) and
//! overlayfs ones (a 0/0 character device, the `overlay.opaque` xattr).

/// Prefix of a whiteout entry in an OCI layer: `.wh.NAME` deletes `NAME`.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Prefix of the whiteout names with a special meaning (not deletions of a file).
pub const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// An entry with this name makes its directory opaque: lower layers' contents are hidden.
pub const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// overlayfs's opaque-directory xattr (privileged mounts).
pub const OVERLAY_OPAQUE_TRUSTED: &str = "trusted.overlay.opaque";
/// overlayfs's opaque-directory xattr (mounts with `userxattr`).
pub const OVERLAY_OPAQUE_USER: &str = "user.overlay.opaque";

/// True for xattrs that belong to overlayfs itself (`trusted.overlay.*`, `user.overlay.*`):
/// they describe the upper dir's bookkeeping, not the file, so they never enter a layer and a
/// layer may not set them.
pub fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// True for overlayfs xattrs that mean an upper dir is not self-contained (a renamed directory
/// pointing at its lower origin, or a file whose data stayed below): such an upper dir cannot
/// be turned into a layer by reading it alone.
pub fn is_overlay_indirection(name: &[u8]) -> bool {
    let rest = name
        .strip_prefix(b"trusted.overlay.")
        .or_else(|| name.strip_prefix(b"user.overlay."));
    matches!(rest, Some(b"redirect") | Some(b"metacopy"))
}

/// The file capability xattr: the one extended attribute a layer carries.
pub const CAPABILITY_XATTR: &str = "security.capability";

/// The xattrs a layer carries: file capabilities only. docker's and containerd's layer tar
/// writers (`ReadSecurityXattrToTarHeader`, `ChangeWriter`), and so BuildKit's layers, read
/// `security.capability` and nothing else: user attributes, SELinux labels, ACLs,
/// `trusted.*` and overlay bookkeeping stay on the host.
pub fn is_layer_xattr(name: &[u8]) -> bool {
    name == CAPABILITY_XATTR.as_bytes()
}

/// What a layer entry's base name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutName<'a> {
    /// Not a whiteout.
    None,
    /// `.wh..wh..opq`: the directory is opaque.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Delete(&'a [u8]),
    /// Another `.wh..wh.` name (AUFS bookkeeping such as `.wh..wh.plnk`): skipped.
    Meta,
}

/// Classifies an entry's base name.
pub fn classify_whiteout(base: &[u8]) -> WhiteoutName<'_> {
    if base == WHITEOUT_OPAQUE {
        WhiteoutName::Opaque
    } else if base.starts_with(WHITEOUT_META_PREFIX) {
        WhiteoutName::Meta
    } else if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX) {
        WhiteoutName::Delete(name)
    } else {
        WhiteoutName::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify_whiteout(b"a"), WhiteoutName::None);
        assert_eq!(classify_whiteout(b".wh.a"), WhiteoutName::Delete(b"a"));
        assert_eq!(classify_whiteout(b".wh..wh..opq"), WhiteoutName::Opaque);
        assert_eq!(classify_whiteout(b".wh..wh.plnk"), WhiteoutName::Meta);
        assert_eq!(classify_whiteout(b".wh..."), WhiteoutName::Delete(b".."));
    }

    #[test]
    fn xattr_filters() {
        assert!(is_layer_xattr(b"security.capability"));
        assert!(!is_layer_xattr(b"user.mime"));
        assert!(!is_layer_xattr(b"trusted.md5"));
        assert!(!is_layer_xattr(b"user.overlay.origin"));
        assert!(!is_layer_xattr(b"trusted.overlay.opaque"));
        assert!(!is_layer_xattr(b"security.selinux"));
        assert!(is_overlay_indirection(b"trusted.overlay.redirect"));
        assert!(is_overlay_indirection(b"user.overlay.metacopy"));
        assert!(!is_overlay_indirection(b"trusted.overlay.opaque"));
    }
}
