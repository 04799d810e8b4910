// Package version holds the build's version, set by the Makefile with
// -ldflags "-X github.com/phalanx-bft/phalanx/version.Version=…".
package version

// Version is the release or commit this binary was built from.
var Version = "dev"

// CometBFT is the consensus engine version linked in.
const CometBFT = "v1.0.1"
