module trmhub.example/interop/go_tlog

go 1.19

require golang.org/x/mod v0.7.0

// Debian's golang-golang-x-mod-dev (installed by deploy/scripts/system-deps.sh):
// the verifier is someone else's code, taken from the distribution, not fetched.
replace golang.org/x/mod => /usr/share/gocode/src/golang.org/x/mod
