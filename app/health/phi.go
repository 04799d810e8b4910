package health

import (
	"math/big"
	"math/bits"

	"github.com/phalanx-bft/phalanx/types"
)

// Phi accrual in integer arithmetic.
//
// Akka's phi accrual detector (after Hayashibara et al.) computes, for a
// node silent for t ms since its last heartbeat,
//
//	y = (t - mean') / sigma            mean' = mean + acceptable pause
//	e = exp(-y (1.5976 + 0.070566 y²))  (logistic approximation of the
//	P_later = e / (1 + e)               normal tail)
//	phi = -log10(P_later)
//
// and suspects the node when phi ≥ Φ. Every step is monotone, so
//
//	phi ≥ Φ  ⟺  P_later ≤ 10^-Φ  ⟺  e ≤ 10^-Φ / (1 - 10^-Φ)
//	        ⟺  g(y) ≥ K(Φ),  g(y) = y (1.5976 + 0.070566 y²),
//	                          K(Φ) = ln(10^Φ - 1)
//	        ⟺  y ≥ y*(Φ)     (g is strictly increasing)
//	        ⟺  t ≥ mean' + y*(Φ) · sigma.
//
// y*(Φ) depends on the threshold alone. YStarMicro computes it once per
// threshold with integers only: K(Φ) by integer series (ln 10 from atanh
// series, 10^-Φ from the exponential series, ln(1 - u) from its series),
// then the smallest y in millionths with g(y) ≥ K by bisection on the cubic
// with exact big-integer comparisons. At each heartbeat, ThresholdMs turns
// the node's inter-arrival ring into mean' + y*·sigma in integer
// microseconds (sigma by an integer square root), rounded up to whole ms:
// the node's phi deadline. No exp, log or float is evaluated at run time.

// MinPhiThresholdMilli and MaxPhiThresholdMilli bound the threshold that
// YStarMicro accepts (phi 1.0 to 100.0): below 1, P_later > 10% and the
// detector suspects nodes that are merely on time.
const (
	MinPhiThresholdMilli = 1_000
	MaxPhiThresholdMilli = 100_000
)

// fixed-point scale of the series: 10^50.
var (
	scale   = new(big.Int).Exp(big.NewInt(10), big.NewInt(50), nil)
	bigZero = big.NewInt(0)
)

// atanhInv returns atanh(1/n) · scale: Σ_k 1 / ((2k+1) n^(2k+1)).
func atanhInv(n int64) *big.Int {
	sum := new(big.Int)
	nn := big.NewInt(n * n)
	pow := new(big.Int).Div(scale, big.NewInt(n)) // scale / n^(2k+1)
	for k := int64(0); pow.Sign() > 0; k++ {
		term := new(big.Int).Div(pow, big.NewInt(2*k+1))
		sum.Add(sum, term)
		pow.Div(pow, nn)
	}
	return sum
}

// ln10 returns ln(10) · scale = 3 ln 2 + ln 1.25, with ln 2 = 2 atanh(1/3)
// and ln 1.25 = 2 atanh(1/9).
func ln10() *big.Int {
	ln2 := new(big.Int).Mul(atanhInv(3), big.NewInt(2))
	ln125 := new(big.Int).Mul(atanhInv(9), big.NewInt(2))
	return new(big.Int).Add(new(big.Int).Mul(ln2, big.NewInt(3)), ln125)
}

// expScaled returns exp(x/scale) · scale for 0 ≤ x (the series has only
// positive terms; callers keep x below 3).
func expScaled(x *big.Int) *big.Int {
	sum := new(big.Int).Set(scale)
	term := new(big.Int).Set(scale)
	for k := int64(1); term.Sign() > 0; k++ {
		term.Mul(term, x)
		term.Div(term, scale)
		term.Div(term, big.NewInt(k))
		sum.Add(sum, term)
	}
	return sum
}

// kScaled returns K(Φ) = ln(10^Φ - 1) · scale for Φ = phiMilli/1000 ≥ 1:
// K = Φ ln 10 + ln(1 - u), u = 10^-Φ ≤ 0.1, ln(1 - u) = -Σ u^k / k.
func kScaled(phiMilli uint32) *big.Int {
	l10 := ln10()
	a := new(big.Int).Mul(l10, big.NewInt(int64(phiMilli)))
	a.Div(a, big.NewInt(1000))
	// u = 10^-q · exp(-r ln10 / 1000), q = Φ's integer part, r = its
	// thousandths: the exponential's argument stays in [0, ln 10).
	q, r := int64(phiMilli/1000), int64(phiMilli%1000)
	x := new(big.Int).Mul(l10, big.NewInt(r))
	x.Div(x, big.NewInt(1000))
	u := new(big.Int).Mul(scale, scale)
	u.Div(u, expScaled(x))
	u.Div(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(q), nil))
	series := new(big.Int)
	pow := new(big.Int).Set(u)
	for k := int64(1); pow.Sign() > 0; k++ {
		series.Add(series, new(big.Int).Div(pow, big.NewInt(k)))
		pow.Mul(pow, u)
		pow.Div(pow, scale)
	}
	return a.Sub(a, series)
}

// YStarMicro returns y*(Φ) in millionths, rounded up: the smallest integer
// Y with g(Y/10^6) ≥ K(Φ), for Φ = phiMilli/1000 in [1, 100]. It panics
// outside that range (ValidateParams keeps the threshold inside). Cost:
// about a millisecond; callers cache it per threshold.
func YStarMicro(phiMilli uint32) int64 {
	if phiMilli < MinPhiThresholdMilli || phiMilli > MaxPhiThresholdMilli {
		panic("health: phi threshold out of range")
	}
	k := kScaled(phiMilli)
	// g(Y/1e6) = (15976·Y·10^14 + 70566·Y³) / 10^24, so
	// g ≥ K/scale  ⟺  (15976·Y·10^14 + 70566·Y³)·scale ≥ K·10^24.
	rhs := new(big.Int).Mul(k, new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil))
	c1 := new(big.Int).Mul(big.NewInt(15976), new(big.Int).Exp(big.NewInt(10), big.NewInt(14), nil))
	c3 := big.NewInt(70566)
	reaches := func(y int64) bool {
		by := big.NewInt(y)
		lhs := new(big.Int).Mul(c1, by)
		cube := new(big.Int).Mul(by, by)
		cube.Mul(cube, by)
		lhs.Add(lhs, cube.Mul(cube, c3))
		lhs.Mul(lhs, scale)
		return lhs.Cmp(rhs) >= 0
	}
	lo, hi := int64(0), int64(100_000_000) // y in [0, 100]: g(100) > K(100)
	if rhs.Cmp(bigZero) <= 0 {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if reaches(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Stats summarise a node's inter-arrival ring.
type Stats struct {
	Samples  int
	MeanUs   int64 // mean interval, µs (floor)
	StdDevUs int64 // population standard deviation, µs (floor)
}

// MaxIntervalMs bounds one ring entry (24 h) so that the sums below cannot
// overflow: 1000 entries of 8.64e7 ms have Σx² < 2^63.
const MaxIntervalMs = 24 * 60 * 60 * 1000

// ComputeStats returns the mean and standard deviation of the most recent
// window entries of the node's ring, in integer microseconds.
func ComputeStats(n *types.Node, window uint32) Stats {
	xs := n.IntervalsMs
	if w := int(window); w > 0 && len(xs) > w {
		xs = Intervals(n)[len(xs)-w:]
	}
	k := uint64(len(xs))
	if k == 0 {
		return Stats{}
	}
	var s1, s2 uint64
	for _, x := range xs {
		v := uint64(min(max(x, 0), MaxIntervalMs))
		s1 += v
		s2 += v * v
	}
	// Variance · k² = k·Σx² − (Σx)² ≥ 0, in 128 bits; σ_us =
	// sqrt(that · 10^6) / k.
	hiA, loA := bits.Mul64(k, s2)
	hiB, loB := bits.Mul64(s1, s1)
	lo, borrow := bits.Sub64(loA, loB, 0)
	hi, _ := bits.Sub64(hiA, hiB, borrow)
	hi, lo = mul128(hi, lo, 1_000_000)
	return Stats{
		Samples:  int(k),
		MeanUs:   int64(s1 * 1000 / k),
		StdDevUs: int64(isqrt128(hi, lo) / k),
	}
}

// mul128 returns (hi, lo) · m; the caller keeps the product below 2^128.
func mul128(hi, lo, m uint64) (uint64, uint64) {
	h1, l1 := bits.Mul64(lo, m)
	_, l2 := bits.Mul64(hi, m)
	return h1 + l2, l1
}

// isqrt128 returns floor(sqrt(hi·2^64 + lo)), bit by bit.
func isqrt128(hi, lo uint64) uint64 {
	var r uint64
	for b := 63; b >= 0; b-- {
		c := r | 1<<uint(b)
		sh, sl := bits.Mul64(c, c)
		if sh < hi || sh == hi && sl <= lo {
			r = c
		}
	}
	return r
}

// Detector holds the phi accrual parameters in the units ThresholdMs needs.
type Detector struct {
	Window              uint32 // ring entries used (params.phi_window)
	MinStdDevMs         int64  // params.phi_min_std_dev_ms
	AcceptablePauseMs   int64  // params.phi_acceptable_pause_ms
	BootstrapIntervalMs int64  // params.heartbeat_interval_ms: the estimate before any sample
	YStarMicro          int64  // YStarMicro(params.phi_threshold_milli)
}

// Estimate returns the statistics the detector uses for n: the ring's, or,
// before the first sample, the bootstrap estimate (mean = heartbeat
// interval, sigma = interval / 4, as Akka seeds its history).
func (d Detector) Estimate(n *types.Node) Stats {
	st := ComputeStats(n, d.Window)
	if st.Samples == 0 {
		st.MeanUs = d.BootstrapIntervalMs * 1000
		st.StdDevUs = d.BootstrapIntervalMs * 1000 / 4
	}
	return st
}

// ThresholdMs returns the smallest silence t (whole ms) at which phi ≥ Φ
// for statistics st: ceil(mean + pause + y*·max(sigma, min sigma)).
func (d Detector) ThresholdMs(st Stats) int64 {
	sigma := max(st.StdDevUs, d.MinStdDevMs*1000)
	// y*·sigma in µs: Y·sigma / 10^6, rounded up, in 128 bits.
	hi, lo := bits.Mul64(uint64(d.YStarMicro), uint64(sigma))
	q, rem := bits.Div64(hi, lo, 1_000_000)
	if rem != 0 {
		q++
	}
	us := st.MeanUs + d.AcceptablePauseMs*1000 + int64(q)
	return (us + 999) / 1000
}
