package tests

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The containerised network of networks/local: one scratch image holding a
// static phalanxd, four containers with their own IPs on a private bridge
// network, driven with the docker and docker-compose CLIs as a user would.

const (
	dkComposeFile = "../networks/local/docker-compose.yml"
	dkDockerfile  = "../networks/local/Dockerfile"
	// dkPrefix names every compose project and image tag the test creates,
	// so that leftovers of a killed run can be recognised and removed.
	dkPrefix = "phalanxe2e"
	// dkStale: a project or image of this test older than this is a leftover
	// (a run takes about a minute).
	dkStale   = 30 * time.Minute
	dkBlock   = 200 * time.Millisecond
	dkNetwork = "phalanx" // the network's key in docker-compose.yml
)

// dockerNet is one docker-compose project of the 4-validator network.
type dockerNet struct {
	t        *testing.T
	project  string
	prefix   string // first three octets of the /24, e.g. "172.28.57"
	env      []string
	rpcPorts [4]int
	ids      [4]string // container ids
	addrs    []string  // the validators' published RPC addresses, val0 first
}

// dkCmd runs a docker or docker-compose command with a deadline and returns
// its combined output.
func dkCmd(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func dkMust(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := dkCmd(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// needDocker skips unless a Docker daemon answers and docker-compose is
// installed.
func needDocker(t *testing.T) {
	t.Helper()
	needE2E(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not available: no docker command in PATH")
	}
	if out, err := dkCmd(nil, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("docker not available: `docker info` failed: %v", err)
	} else if strings.TrimSpace(out) == "" {
		t.Skip("docker not available: `docker info` reported no server")
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker not available: no docker-compose command in PATH")
	}
}

func dkRandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dkBuildImage builds an image from networks/local/Dockerfile with only
// phalanxd in the context: the binary TestMain built (static, for this
// host); a daemon on another OS than Linux gets a Linux build of its own.
func dkBuildImage(t *testing.T) string {
	t.Helper()
	ctxDir := t.TempDir()
	bin := filepath.Join(ctxDir, "phalanxd")
	if runtime.GOOS == "linux" {
		src, err := os.ReadFile(binary)
		if err != nil {
			t.Fatalf("the phalanxd TestMain built: %v", err)
		}
		if err := os.WriteFile(bin, src, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/phalanxd")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building a Linux phalanxd for the image: %v\n%s", err, out)
		}
	}
	// FROM scratch has no dynamic loader: the binary must have no PT_INTERP.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			f.Close()
			t.Fatalf("%s is dynamically linked; the scratch image needs a static binary (TestMain builds with CGO_ENABLED=0)", bin)
		}
	}
	f.Close()
	// The tag carries its creation time: an image rebuilt from an unchanged
	// binary comes from the build cache with its first build's date.
	tag := fmt.Sprintf("phalanxd:%s-%d-%s", dkPrefix, time.Now().Unix(), dkRandHex(4))
	dkMust(t, nil, "docker", "build", "-q", "-f", dkDockerfile, "-t", tag, ctxDir)
	t.Cleanup(func() {
		if out, err := dkCmd(nil, "docker", "rmi", "-f", tag); err != nil {
			t.Logf("removing image %s: %v\n%s", tag, err, out)
		}
	})
	return tag
}

// dkSweepStale removes containers, networks and images left by runs of this
// test that were killed before their cleanup (e.g. by go test -timeout).
// Only objects older than dkStale are touched, so a concurrent run is not.
func dkSweepStale(t *testing.T) {
	t.Helper()
	old := func(created string) bool {
		ts, err := time.Parse(time.RFC3339Nano, strings.Trim(strings.TrimSpace(created), `"`))
		return err == nil && time.Since(ts) > dkStale
	}
	out, _ := dkCmd(nil, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project")
	for _, id := range strings.Fields(out) {
		info, err := dkCmd(nil, "docker", "inspect", "-f", `{{index .Config.Labels "com.docker.compose.project"}} {{json .Created}}`, id)
		if f := strings.Fields(info); err == nil && len(f) == 2 && strings.HasPrefix(f[0], dkPrefix) && old(f[1]) {
			t.Logf("removing leftover container %s of project %s", id, f[0])
			_, _ = dkCmd(nil, "docker", "rm", "-f", "-v", id)
		}
	}
	out, _ = dkCmd(nil, "docker", "network", "ls", "--filter", "name="+dkPrefix, "--format", "{{.Name}}")
	for _, name := range strings.Fields(out) {
		if info, err := dkCmd(nil, "docker", "network", "inspect", "-f", "{{json .Created}}", name); err == nil && strings.HasPrefix(name, dkPrefix) && old(info) {
			t.Logf("removing leftover network %s", name)
			_, _ = dkCmd(nil, "docker", "network", "rm", name)
		}
	}
	out, _ = dkCmd(nil, "docker", "images", "phalanxd", "--format", "{{.Tag}}")
	for _, tag := range strings.Fields(out) {
		var unix int64
		var rnd string
		if n, _ := fmt.Sscanf(strings.ReplaceAll(tag, "-", " "), dkPrefix+" %d %s", &unix, &rnd); n == 2 && time.Since(time.Unix(unix, 0)) > dkStale {
			t.Logf("removing leftover image phalanxd:%s", tag)
			_, _ = dkCmd(nil, "docker", "rmi", "-f", "phalanxd:"+tag)
		}
	}
}

// dkFreePrefix picks a random 172.28.X.0/24 that overlaps neither a Docker
// network nor an address of this host.
func dkFreePrefix(t *testing.T) string {
	t.Helper()
	var used []*net.IPNet
	ids, _ := dkCmd(nil, "docker", "network", "ls", "-q")
	if f := strings.Fields(ids); len(f) > 0 {
		out := dkMust(t, nil, "docker", append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, f...)...)
		for _, s := range strings.Fields(out) {
			if _, n, err := net.ParseCIDR(s); err == nil {
				used = append(used, n)
			}
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
	for range 200 {
		x, _ := rand.Int(rand.Reader, big.NewInt(254-32))
		prefix := fmt.Sprintf("172.28.%d", 32+x.Int64())
		_, cand, _ := net.ParseCIDR(prefix + ".0/24")
		free := true
		for _, n := range used {
			if n.Contains(cand.IP) || cand.Contains(n.IP) {
				free = false
				break
			}
		}
		if free {
			return prefix
		}
	}
	t.Fatal("no free 172.28.X.0/24 subnet for the test network")
	return ""
}

// startDockerNet initialises a 4-validator multi-host network for the
// containers, starts it with docker-compose and waits for height 3 on all.
func startDockerNet(t *testing.T) *dockerNet {
	t.Helper()
	compose, err := filepath.Abs(dkComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dkSweepStale(t)
	image := dkBuildImage(t)
	d := &dockerNet{t: t, project: dkPrefix + dkRandHex(4)}
	for i := range d.rpcPorts {
		d.rpcPorts[i] = freePort(t)
	}
	composeArgs := func(args ...string) []string {
		return append([]string{"-p", d.project, "-f", compose}, args...)
	}
	// Down before the homes are removed (cleanups run last-registered
	// first), and on failure show what the validators said.
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := dkCmd(d.env, "docker-compose", composeArgs("ps")...)
			t.Logf("docker-compose ps:\n%s", out)
			out, _ = dkCmd(d.env, "docker-compose", composeArgs("logs", "--no-color", "--tail", "60")...)
			t.Logf("container logs (last 60 lines each):\n%s", out)
		}
		if out, err := dkCmd(d.env, "docker-compose", composeArgs("down", "-v", "--remove-orphans", "-t", "5")...); err != nil {
			t.Logf("docker-compose down: %v\n%s", err, out)
		}
	})

	// The subnet is chosen free, but another run may take it between the
	// check and `up`: then try another one.
	started := time.Now()
	for attempt := 1; ; attempt++ {
		d.prefix = dkFreePrefix(t)
		dir := filepath.Join(root, fmt.Sprintf("net%d", attempt))
		mustRun(t, "testnet", "init", "--validators", "4", "--output", dir, "--chain-id", "e2e-docker",
			"--starting-ip", d.prefix+".10", "--public-rpc", "--block-time", dkBlock.String())
		d.env = append(os.Environ(),
			"PHALANX_DOCKER_NET="+dir,
			"PHALANX_DOCKER_PREFIX="+d.prefix,
			"PHALANX_DOCKER_IMAGE="+image,
			// The homes are the test user's (0700); the validators run as
			// that user so they can read them and the test can delete what
			// they write.
			fmt.Sprintf("PHALANX_DOCKER_USER=%d:%d", os.Getuid(), os.Getgid()),
			"PHALANX_DOCKER_RPC_HOST=127.0.0.1",
		)
		if dkRootless() {
			d.env = append(d.env, "PHALANX_DOCKER_USER=0:0") // container root is the test user
		}
		for i, p := range d.rpcPorts {
			d.env = append(d.env, fmt.Sprintf("PHALANX_DOCKER_RPC%d=%d", i, p))
		}
		out, err := dkCmd(d.env, "docker-compose", composeArgs("up", "-d")...)
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(out, "overlap") {
			t.Logf("subnet %s.0/24 was taken (%s); trying another", d.prefix, strings.TrimSpace(out))
			_, _ = dkCmd(d.env, "docker-compose", composeArgs("down", "-v")...)
			continue
		}
		t.Fatal(err)
	}
	for i := range d.ids {
		id := strings.TrimSpace(dkMust(t, d.env, "docker-compose", composeArgs("ps", "-q", fmt.Sprintf("val%d", i))...))
		if id == "" {
			t.Fatalf("docker-compose ps: no container for val%d", i)
		}
		d.ids[i] = id
		d.addrs = append(d.addrs, fmt.Sprintf("tcp://127.0.0.1:%d", d.rpcPorts[i]))
	}
	for _, addr := range d.addrs {
		waitHeight(t, addr, 3, 90*time.Second)
	}
	t.Logf("project %s on %s.0/24: 4 containers at height >= 3 %s after init",
		d.project, d.prefix, time.Since(started).Round(10*time.Millisecond))
	return d
}

// dkRootless reports whether the daemon runs rootless (container root is
// then the user who runs the daemon).
func dkRootless() bool {
	out, err := dkCmd(nil, "docker", "info", "--format", "{{.SecurityOptions}}")
	return err == nil && strings.Contains(out, "rootless")
}

func (d *dockerNet) networkName() string { return d.project + "_" + dkNetwork }

// execHeight asks validator i from inside its container (its own loopback),
// which works while the container is cut off from every network, published
// ports included. The image has no shell, but it has phalanxd.
func (d *dockerNet) execHeight(i int) int64 {
	d.t.Helper()
	out := dkMust(d.t, nil, "docker", "exec", d.ids[i], "/phalanxd", "query", "summary",
		"--node", "tcp://127.0.0.1:26657", "-o", "json")
	var s struct {
		Height int64 `json:"height"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		d.t.Fatalf("val%d query summary: %v\n%s", i, err, out)
	}
	return s.Height
}

// TestDockerNetworkPartition runs the docker-compose network of
// networks/local and injects faults with the Docker CLI: a crashed
// container (docker kill), a network partition (docker network disconnect)
// that leaves 2 of 4 validators connected, and the heal. The majority must
// keep committing, no side without more than 2/3 of the power may commit,
// and after the heal all four agree on every block and app hash.
func TestDockerNetworkPartition(t *testing.T) {
	needDocker(t)
	began := time.Now()
	d := startDockerNet(t)

	// Crash: val3 killed (SIGKILL). 3 of 4 keep committing.
	phase := time.Now()
	dkMust(t, nil, "docker", "kill", d.ids[3])
	h := heightNow(t, d.addrs[0])
	waitHeight(t, d.addrs[0], h+3, 30*time.Second)
	t.Logf("val3 killed: val0 went from %d to %d in %s", h, h+3, time.Since(phase).Round(10*time.Millisecond))

	// Partition: val2 cut off from the network (val3 still dead). val0 and
	// val1 hold 2 of 4, val2 alone 1 of 4: neither side has more than 2/3,
	// so nothing may commit anywhere. A block whose precommits were already
	// out may still commit right after the cut; from then on no height may
	// move. Asserting that nothing happens needs an observation window, so
	// the sleeps below are bounded waits, not synchronisation: 2 × 15 block
	// times. val2's published port is gone with its network, so it is asked
	// from inside its container.
	phase = time.Now()
	dkMust(t, nil, "docker", "network", "disconnect", d.networkName(), d.ids[2])
	before := heightNow(t, d.addrs[0])
	before2 := d.execHeight(2)
	stallFor := 15 * dkBlock
	time.Sleep(stallFor)
	stalled := heightNow(t, d.addrs[0])
	stalled2 := d.execHeight(2)
	if stalled > before+1 {
		t.Fatalf("majority side: val0 went from %d to %d with val3 dead and val2 cut off", before, stalled)
	}
	if stalled2 > before2+1 {
		t.Fatalf("minority side: val2 went from %d to %d while cut off", before2, stalled2)
	}
	time.Sleep(stallFor)
	for _, i := range []int{0, 1} {
		if got := heightNow(t, d.addrs[i]); got > stalled {
			t.Fatalf("val%d at height %d with 2 of 4 connected (stalled at %d)", i, got, stalled)
		}
	}
	if got := d.execHeight(2); got != stalled2 {
		t.Fatalf("minority side: val2 went from %d to %d while cut off", stalled2, got)
	}
	if stalled2 > stalled {
		t.Fatalf("val2 alone reached height %d, beyond the other side's %d", stalled2, stalled)
	}
	t.Logf("partition: no commit for %s (val0/val1 at %d, val2 at %d)", time.Since(phase).Round(10*time.Millisecond), stalled, stalled2)

	// Heal: val2 reconnected at its address, val3 restarted. Progress
	// resumes, every validator catches up, and they agree on every block.
	phase = time.Now()
	dkMust(t, nil, "docker", "network", "connect", "--ip", d.prefix+".12", d.networkName(), d.ids[2])
	dkMust(t, nil, "docker", "start", d.ids[3])
	waitHeight(t, d.addrs[0], stalled+3, 60*time.Second)
	final := heightNow(t, d.addrs[0])
	for i := 1; i < 4; i++ {
		waitHeight(t, d.addrs[i], final, 60*time.Second)
	}
	t.Logf("healed: all four at height >= %d %s after reconnect/restart", final, time.Since(phase).Round(10*time.Millisecond))
	checkAgreement(t, d.addrs, 1, final)
	t.Logf("heights 1..%d agree on block and app hash on all four; test body took %s", final, time.Since(began).Round(10*time.Millisecond))
}
