#!/usr/bin/env bash
# The SCTP tier: the build hosts' kernel has no SCTP, so boot Debian's kernel under virtme-ng
# (software emulation; KVM hangs on these hosts), load sctp and run `pytest -m sctp` inside.
# Exits with pytest's status. Never skips: a missing kernel, a VM that does not boot or a run
# that reports no status is a loud failure (exit 2 or 124, message on stderr).
#
# usage: tests/run_in_vm.sh [extra pytest arguments]
# env:   SCTP_VM_KERNEL  kernel image to boot (default: newest /boot/vmlinuz-*)
#        SCTP_VM_TIMEOUT seconds before the VM is killed (default: 900)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"

fail() {
    echo "run_in_vm.sh: FAILED: $*" >&2
    exit 2
}

newest_kernel() {
    local images=(/boot/vmlinuz-*)
    [[ -e ${images[0]} ]] || return 1
    printf '%s\n' "${images[@]}" | sort -V | tail -n 1
}

kernel="${SCTP_VM_KERNEL:-$(newest_kernel)}" ||
    fail "no kernel image matches /boot/vmlinuz-*; install one: apt-get install linux-image-amd64"
[[ -r $kernel ]] || fail "kernel image $kernel is missing or unreadable"
release="${kernel##*/vmlinuz-}"
[[ -d /lib/modules/$release/kernel ]] ||
    fail "no modules for $release in /lib/modules/$release, so no sctp.ko to load in the VM"
[[ -x $python ]] || fail "no project venv at $root/.venv (python $python)"
# vng starts virtme-run by name, so the venv's bin must be on PATH.
export PATH="$root/.venv/bin:$PATH"
command -v vng >/dev/null || fail "vng (virtme-ng) is not installed in $root/.venv"

# The guest's root is the host's, read-only; this directory is shared read-write so the guest
# can hand pytest's status back even if vng's own exit status were lost on the way.
status_dir="$(mktemp -d "${TMPDIR:-/tmp}/sctp-vm.XXXXXX")" || fail "mktemp failed"
trap 'rm -rf "$status_dir"' EXIT

pytest_args=(-m sctp -p no:cacheprovider "$@")
inner="modprobe sctp || { echo 'run_in_vm.sh: modprobe sctp failed in the VM' >&2; exit 3; }
cd $(printf %q "$root") || exit 3
export TMPDIR=/tmp PYTHONDONTWRITEBYTECODE=1
$(printf %q "$python") -m pytest $(printf '%q ' "${pytest_args[@]}")
status=\$?
echo \$status > $(printf %q "$status_dir/status")
exit \$status"

echo "run_in_vm.sh: booting $kernel under virtme-ng (software emulation, ~20 s)" >&2
started=$SECONDS
# stdin from /dev/null: QEMU must not wait on a terminal when timeout runs it in the background.
# Output through a pipe: given a file, the guest console reopens it and writes from offset 0,
# wiping whatever the caller (make test, CI) logged before.
timeout --kill-after=10 "${SCTP_VM_TIMEOUT:-900}" \
    vng --disable-kvm --rwdir "$status_dir" -r "$kernel" --exec "$inner" </dev/null 2>&1 | cat
vng_status=${PIPESTATUS[0]}
echo "run_in_vm.sh: VM finished after $((SECONDS - started)) s (vng exit status $vng_status)" >&2

if [[ $vng_status -eq 124 || $vng_status -eq 137 ]]; then
    echo "run_in_vm.sh: FAILED: the VM did not finish within ${SCTP_VM_TIMEOUT:-900} s" >&2
    exit 124
fi
[[ -s $status_dir/status ]] ||
    fail "the VM reported no pytest status (did not boot, modprobe sctp failed, or it died)"
status="$(<"$status_dir/status")"
if [[ $status != "$vng_status" ]]; then
    echo "run_in_vm.sh: note: vng exit status $vng_status differs from pytest's $status" >&2
fi
exit "$status"
