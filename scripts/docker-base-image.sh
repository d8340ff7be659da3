#!/bin/sh
# Provides the base image (debian:bookworm-slim) to the local engine: present, pulled, or built with debootstrap.
#   scripts/docker-base-image.sh [IMAGE]
# Where no registry can be reached, `debootstrap --variant=minbase bookworm` from Debian's mirror makes the root
# filesystem, trimmed the way the official slim image is (no docs, man pages, locales or apt lists), and `docker import`
# turns it into IMAGE. Mirrors: $REFLEX_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# $REFLEX_DEBIAN_SECURITY_MIRROR (default: the same host's debian-security).
set -eu
PATH=$PATH:/usr/sbin:/sbin
DOCKER=${DOCKER:-docker}
IMAGE=${1:-debian:bookworm-slim}
MIRROR=${REFLEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${REFLEX_DEBIAN_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}
PULL_TIMEOUT=${REFLEX_PULL_TIMEOUT:-60}

say() { echo "docker-base-image: $*" >&2; }

"$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 && exit 0
if timeout "$PULL_TIMEOUT" "$DOCKER" pull -q "$IMAGE" >/dev/null 2>&1; then
	say "pulled $IMAGE"
	exit 0
fi
say "cannot pull $IMAGE: building it with debootstrap from $MIRROR"
if [ "$(id -u)" -ne 0 ]; then
	say "debootstrap needs root: run 'sudo make images'"
	exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-cache show debootstrap >/dev/null 2>&1 || apt-get update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root=$(mktemp -d /var/tmp/reflex-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
if ! debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1; then
	tail -n 20 "$root.log" >&2
	rm -f "$root.log"
	exit 1
fi
rm -f "$root.log"

# The same trimming as Debian's docker images: later apt-get installs keep out docs and locales too.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/lintian"/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/var/log"/*.log \
	"$root/var/cache/debconf"/*-old "$root/var/lib/dpkg"/*-old
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
	--change 'CMD ["bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--message "debootstrap --variant=minbase bookworm $MIRROR" - "$IMAGE" >/dev/null
say "imported $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'))"
