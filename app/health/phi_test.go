package health

import (
	"flag"
	"math"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

var seedFlag = flag.Int64("seed", 0, "seed of the randomized tests (0: one from the clock)")

func testSeed(t *testing.T) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	testseed.Log(t, "./app/health", seed)
	return seed
}

// The float64 reference: Akka's PhiAccrualFailureDetector.phi, with the
// history's mean and population standard deviation in float64.
func refStats(xs []int64) (mean, sd float64) {
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		d := float64(x) - mean
		sd += d * d
	}
	return mean, math.Sqrt(sd / float64(len(xs)))
}

func refPhi(elapsed, mean, sd float64, pauseMs, minSdMs int64) float64 {
	mean += float64(pauseMs)
	sd = math.Max(sd, float64(minSdMs))
	y := (elapsed - mean) / sd
	e := math.Exp(-y * (1.5976 + 0.070566*y*y))
	if elapsed > mean {
		return -math.Log10(e / (1 + e))
	}
	return -math.Log10(1 - 1/(1+e))
}

// refYStar solves y (1.5976 + 0.070566 y²) = ln(10^Φ - 1) in float64.
func refYStar(phi float64) float64 {
	k := math.Log(math.Pow(10, phi) - 1)
	lo, hi := 0.0, 100.0
	for i := 0; i < 200; i++ {
		mid := (lo + hi) / 2
		if mid*(1.5976+0.070566*mid*mid) >= k {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func TestLn10Series(t *testing.T) {
	got, _ := new(big.Float).Quo(new(big.Float).SetInt(ln10()), new(big.Float).SetInt(scale)).Float64()
	if got != math.Ln10 {
		t.Fatalf("ln 10 from the atanh series = %.17g; math.Ln10 = %.17g", got, math.Ln10)
	}
}

func TestYStarMatchesFloat(t *testing.T) {
	for _, phiMilli := range []uint32{1000, 1500, 2000, 3000, 5000, 8000, 8001, 10000, 12000, 16000, 25000, 50000, 100000} {
		phi := float64(phiMilli) / 1000
		k, _ := new(big.Float).Quo(new(big.Float).SetInt(kScaled(phiMilli)), new(big.Float).SetInt(scale)).Float64()
		if want := math.Log(math.Pow(10, phi) - 1); math.Abs(k-want) > 1e-12*math.Max(1, want) {
			t.Errorf("K(%g) = %.15g; float64 gives %.15g", phi, k, want)
		}
		y := YStarMicro(phiMilli)
		ref := refYStar(phi)
		// Y is the smallest millionth at or above y*.
		if float64(y)/1e6 < ref-1e-9 || float64(y-1)/1e6 > ref+1e-9 {
			t.Errorf("y*(%g) = %d millionths; float64 gives %.9f", phi, y, ref)
		}
	}
	if got := YStarMicro(8000); got != 5225987 {
		t.Errorf("y*(8.0) = %d millionths; the documented value is 5225987", got)
	}
}

func TestComputeStats(t *testing.T) {
	n := &types.Node{}
	for _, x := range []int64{1000, 3000, 2000, 2000} {
		PushInterval(n, x, 3)
	}
	// The ring holds 3000, 2000, 2000 (window 3): mean 2333.33 ms,
	// deviation 471.40 ms.
	st := ComputeStats(n, 3)
	if st.Samples != 3 || st.MeanUs != 2333333 || st.StdDevUs != 471404 {
		t.Fatalf("stats = %+v; want 3 samples, mean 2333333 µs, sd 471404 µs", st)
	}
	// A smaller window uses the most recent entries.
	if st := ComputeStats(n, 2); st.Samples != 2 || st.MeanUs != 2000000 || st.StdDevUs != 0 {
		t.Fatalf("stats over 2 = %+v; want 2 samples, mean 2000000 µs, sd 0", st)
	}
	// Extremes do not overflow: 1000 entries of 24 h.
	big := &types.Node{}
	for i := 0; i < 1000; i++ {
		PushInterval(big, MaxIntervalMs-int64(i%2), 1000)
	}
	if st := ComputeStats(big, 1000); st.MeanUs != (MaxIntervalMs*1000-500) || st.StdDevUs != 500 {
		t.Fatalf("stats of 24 h intervals = %+v; want mean %d µs, sd 500 µs", st, MaxIntervalMs*1000-500)
	}
}

func TestIsqrt128(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	for i := 0; i < 10000; i++ {
		r := rng.Uint64() >> uint(rng.Intn(64))
		hi, lo := mul128(0, r, r)
		extra := rng.Uint64() % (2*r + 1) // stays below (r+1)²
		lo2 := lo + extra
		if lo2 < lo {
			hi++
		}
		if got := isqrt128(hi, lo2); got != r {
			t.Fatalf("isqrt(%d² + %d) = %d", r, extra, got)
		}
	}
}

func TestDeadlineQueueOrder(t *testing.T) {
	var q DeadlineQueue
	for _, d := range []Deadline{{5, "b"}, {3, "z"}, {5, "a"}, {9, "c"}, {3, "y"}} {
		q.Push(d)
	}
	var got []Deadline
	for {
		d, ok := q.PopDue(5)
		if !ok {
			break
		}
		got = append(got, d)
	}
	want := []Deadline{{3, "y"}, {3, "z"}, {5, "a"}, {5, "b"}}
	if len(got) != len(want) {
		t.Fatalf("popped %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v; want %v", got, want)
		}
	}
	if q.Len() != 1 {
		t.Fatalf("%d entries left; want 1 (t=9)", q.Len())
	}
}

// TestFixedPointAgreesWithFloat compares the detector's integer decision
// (silence ≥ ThresholdMs) with Akka's float64 phi ≥ Φ over generated
// inter-arrival histories and parameters, at silences spread over the
// whole range and packed around the threshold, and reports the agreement.
func TestFixedPointAgreesWithFloat(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	histories := 20000
	if testing.Short() {
		histories = 2000
	}
	thresholds := []uint32{1000, 2000, 3000, 5000, 8000, 10000, 12000, 16000}
	yStar := map[uint32]int64{}
	for _, p := range thresholds {
		yStar[p] = YStarMicro(p)
	}
	var decisions, agree, nearAgree, near int
	var maxDiffMs float64
	for h := 0; h < histories; h++ {
		phiMilli := thresholds[rng.Intn(len(thresholds))]
		det := Detector{
			Window:            uint32(1 + rng.Intn(200)),
			MinStdDevMs:       int64(1 + rng.Intn(1000)),
			AcceptablePauseMs: int64(rng.Intn(5000)),
			YStarMicro:        yStar[phiMilli],
		}
		n := &types.Node{}
		base := float64(200 + rng.Intn(10000))
		jitter := base * rng.Float64() * 0.8
		count := 1 + rng.Intn(int(det.Window)+20)
		for i := 0; i < count; i++ {
			var x float64
			switch rng.Intn(3) {
			case 0: // normal
				x = base + rng.NormFloat64()*jitter
			case 1: // exponential tail
				x = base + rng.ExpFloat64()*jitter
			default: // bimodal: a lost heartbeat now and then
				x = base
				if rng.Intn(5) == 0 {
					x *= 2
				}
			}
			PushInterval(n, max(1, int64(x)), det.Window)
		}
		st := det.Estimate(n)
		thr := det.ThresholdMs(st)
		xs := Intervals(n)
		if len(xs) > int(det.Window) {
			xs = xs[len(xs)-int(det.Window):]
		}
		mean, sd := refStats(xs)
		phi := float64(phiMilli) / 1000
		refThr := mean + float64(det.AcceptablePauseMs) + refYStar(phi)*math.Max(sd, float64(det.MinStdDevMs))
		maxDiffMs = math.Max(maxDiffMs, math.Abs(float64(thr)-refThr))
		check := func(e int64) bool {
			fixed := e >= thr
			float := refPhi(float64(e), mean, sd, det.AcceptablePauseMs, det.MinStdDevMs) >= phi
			return fixed == float
		}
		// Silences over the whole range ...
		for i := 0; i < 20; i++ {
			e := rng.Int63n(3*thr + 1)
			decisions++
			if check(e) {
				agree++
			}
		}
		// ... and at each millisecond within 3 ms of the threshold.
		for e := thr - 3; e <= thr+3; e++ {
			near++
			if check(e) {
				nearAgree++
			}
		}
	}
	rate := float64(agree) / float64(decisions)
	nearRate := float64(nearAgree) / float64(near)
	t.Logf("%d histories: %d of %d decisions over the whole range agree with float64 (%.4f%%); %d of %d within ±3 ms of the threshold (%.3f%%); threshold differs from float64 by at most %.3f ms",
		histories, agree, decisions, 100*rate, nearAgree, near, 100*nearRate, maxDiffMs)
	// Rounding up to whole ms (< 1 ms), the µs floors of mean and sigma and
	// y* rounded up to a millionth (a few µs at most).
	if maxDiffMs > 1.02 {
		t.Errorf("the integer threshold differs from float64 by %.3f ms; want at most 1.02 ms (rounding up to whole ms)", maxDiffMs)
	}
	if rate < 0.9999 {
		t.Errorf("agreement %.5f over the whole range; want ≥ 0.9999", rate)
	}
}
