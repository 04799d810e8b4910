package health

import "math"

// Phi returns phi for a node silent for elapsedMs, as Akka computes it, in
// floating point. It is for display (queries) only: no decision may use it
// (DESIGN §7); decisions compare the silence with Detector.ThresholdMs.
func (d Detector) Phi(elapsedMs int64, st Stats) float64 {
	mean := float64(st.MeanUs)/1000 + float64(d.AcceptablePauseMs)
	sigma := math.Max(float64(st.StdDevUs)/1000, float64(d.MinStdDevMs))
	y := (float64(elapsedMs) - mean) / sigma
	e := math.Exp(-y * (1.5976 + 0.070566*y*y))
	var p float64
	if float64(elapsedMs) > mean {
		p = e / (1 + e)
	} else {
		p = 1 - 1/(1+e)
	}
	phi := -math.Log10(p)
	if math.IsInf(phi, 0) || math.IsNaN(phi) || phi > 1000 {
		return 1000 // beyond any threshold; JSON has no infinity
	}
	if phi < 0.0005 {
		return 0 // and not -0
	}
	return math.Round(phi*1000) / 1000
}
