#!/usr/bin/env bash
# Writes the base filesystem of strata's tests and demo as a deterministic
# tar: the same bytes, so the same sha256, on every machine that has the same
# busybox-static package version (see testdata/README.md).
#
#   testdata/make-rootfs.sh OUT.tar
#
# Content: Debian's static busybox as /bin/busybox, every applet as a relative
# symlink to it where `busybox --list-full` puts it (/bin, /sbin, /usr/bin,
# /usr/sbin), /etc/passwd and /etc/group (root, nobody, app 1000), /tmp 1777,
# /root 0700, /home/app owned 1000:1000, and empty /dev /proc /sys /var.
#
# The busybox binary comes from the busybox-static .deb, whichever way it is
# found: $BUSYBOX_DEB if set, else the installed package if its file is
# intact, else `apt-get download` into a temporary directory. The package
# is never installed by this script.
#
# Every tar header field is set here (sorted names, mtime 0, numeric
# ownership with empty user and group names, fixed modes, ustar format), so
# neither the umask, the clock, the user nor the tar implementation leaks in.
set -euo pipefail

usage() {
    echo "usage: $0 OUT.tar" >&2
    exit 2
}
[[ $# -eq 1 && -n $1 && $1 != -* ]] || usage
out=$1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Sets $busybox to the binary of the busybox-static .deb and $version to
# the package's version.
locate_busybox() {
    if [[ -n ${BUSYBOX_DEB:-} ]]; then
        extract_deb "$BUSYBOX_DEB"
        return
    fi
    # An installed package is used only if its binary still has the checksum
    # dpkg recorded, i.e. it is the .deb's file byte for byte.
    local md5sums=/var/lib/dpkg/info/busybox-static.md5sums
    if [[ $(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null) == installed &&
        -r $md5sums ]]; then
        local recorded
        recorded=$(awk '$2 == "bin/busybox" { print $1 }' "$md5sums")
        if [[ -n $recorded && $(md5sum </bin/busybox | cut -d' ' -f1) == "$recorded" ]]; then
            busybox=/bin/busybox
            version=$(dpkg-query -W -f='${Version}' busybox-static)
            return
        fi
        echo "make-rootfs: installed /bin/busybox differs from its package; downloading" >&2
    fi
    mkdir "$work/deb"
    # As root, apt hands the download to the _apt user, who cannot write
    # into our private temporary directory.
    if ! (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root busybox-static >&2); then
        echo "make-rootfs: apt-get download busybox-static failed (run apt-get update?)" >&2
        exit 1
    fi
    extract_deb "$work"/deb/busybox-static_*.deb
}

extract_deb() {
    local deb=$1
    if [[ $(dpkg-deb -f "$deb" Package) != busybox-static ]]; then
        echo "make-rootfs: $deb is not a busybox-static package" >&2
        exit 1
    fi
    version=$(dpkg-deb -f "$deb" Version)
    mkdir -p "$work/pkg"
    dpkg-deb -x "$deb" "$work/pkg"
    busybox=$work/pkg/bin/busybox
}

busybox= version=
locate_busybox

echo "busybox-static $version: $("$busybox" 2>&1 | head -n1)"

"$busybox" --list-full >"$work/applets"

python3 - "$busybox" "$work/applets" "$out" <<'PY'
import io
import sys
import tarfile

busybox_path, applets_path, out_path = sys.argv[1:4]

# Where each applet link may live, and the relative path back to the binary
# (relative so that the tree also works when unpacked outside a chroot).
LINK_DIRS = {
    "bin": "busybox",
    "sbin": "../bin/busybox",
    "usr/bin": "../../bin/busybox",
    "usr/sbin": "../../bin/busybox",
}

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
)
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"

entries = {}  # name -> (type, mode, uid, gid, data or link target)


def directory(name, mode=0o755, uid=0, gid=0):
    entries[name] = (tarfile.DIRTYPE, mode, uid, gid, None)


def regular(name, data, mode=0o644):
    entries[name] = (tarfile.REGTYPE, mode, 0, 0, data)


def symlink(name, target):
    entries[name] = (tarfile.SYMTYPE, 0o777, 0, 0, target)


for name in ("bin", "dev", "etc", "home", "proc", "sbin", "sys", "usr",
             "usr/bin", "usr/sbin", "var"):
    directory(name)
directory("root", 0o700)
directory("tmp", 0o1777)
directory("home/app", 0o755, 1000, 1000)

with open(busybox_path, "rb") as f:
    regular("bin/busybox", f.read(), 0o755)
regular("etc/passwd", PASSWD.encode())
regular("etc/group", GROUP.encode())

with open(applets_path) as f:
    for line in f:
        path = line.strip()
        parent, _, _ = path.rpartition("/")
        # The list names busybox itself, and /linuxrc (initrd only): skipped.
        if path == "bin/busybox" or parent not in LINK_DIRS:
            continue
        symlink(path, LINK_DIRS[parent])

with open(out_path, "wb") as out:
    # ustar: fixed-size headers only, no pax records whose content could vary.
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(entries):
            kind, mode, uid, gid, payload = entries[name]
            info = tarfile.TarInfo(name + "/" if kind == tarfile.DIRTYPE else name)
            info.type = kind
            info.mode = mode
            info.uid, info.gid = uid, gid
            info.uname = info.gname = ""
            info.mtime = 0
            if kind == tarfile.SYMTYPE:
                info.linkname = payload
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
PY

echo "entries: $(tar -tf "$out" | wc -l)"
echo "sha256: $(sha256sum "$out" | cut -d' ' -f1)  $out"
