# apt.sh is sourced by the scripts that install Debian packages they need
# (services.sh, jstest.sh). The sourcing script defines log and die first.
#
# apt_install installs Debian packages without prompts, running `apt-get update`
# at most once per invocation. It waits for a dpkg lock held by another apt
# instead of failing on it.
APT_UPDATED=0
apt_install() {
	[[ $EUID -eq 0 ]] || die "$* not installed and not running as root; install it (apt-get install $*)"
	command -v apt-get >/dev/null || die "$* not installed and apt-get not available"
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -q)
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}
