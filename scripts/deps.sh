#!/usr/bin/env bash
# Installs the Debian packages Vigil's build, tests, demo and notebooks need,
# only when something is missing, so repeated runs cost nothing.
set -euo pipefail

need=()
command -v clang >/dev/null || need+=(clang llvm)                       # make generate (BPF)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)             # make generate (BPF)
command -v bpftool >/dev/null || need+=(bpftool)                        # make generate (vmlinux.h)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx nc || need+=(busybox-static) # scenario and test images
/usr/bin/python3 -c 'import pandas, matplotlib' 2>/dev/null || need+=(python3-pandas python3-matplotlib) # notebooks
command -v jupyter-nbconvert >/dev/null || need+=(jupyter-nbconvert)    # make notebooks
/usr/bin/python3 -c 'import ipykernel' 2>/dev/null || need+=(python3-ipykernel) # the notebooks' kernel
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)    # renders the replay report in a test

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages (${need[*]}); run 'make deps' as root to install them" >&2
	exit 0
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
