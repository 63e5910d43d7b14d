#!/usr/bin/env bash
# Installs the Debian packages Vigil's build, tests and notebooks need, only
# when something is missing, so repeated runs cost nothing.
set -euo pipefail

need=()
command -v clang >/dev/null || need+=(clang llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null || need+=(bpftool)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx nc || need+=(busybox-static)
/usr/bin/python3 -c 'import pandas, matplotlib' 2>/dev/null || need+=(python3-pandas python3-matplotlib)
command -v jupyter-nbconvert >/dev/null || need+=(jupyter-nbconvert python3-ipykernel)

if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Headless Chromium renders the replay report (eval's HTML test, issue 7).
if ! command -v chromium >/dev/null; then
	echo "deps: installing chromium"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

# The notebooks' kernel (make notebooks runs them with Debian's python3).
if ! /usr/bin/python3 -c 'import ipykernel' 2>/dev/null; then
	echo "deps: installing python3-ipykernel"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends python3-ipykernel >/dev/null
fi
