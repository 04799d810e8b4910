package health

import (
	"reflect"
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

func TestPushIntervalRing(t *testing.T) {
	n := &types.Node{}
	for i := int64(1); i <= 5; i++ {
		PushInterval(n, i, 3)
	}
	if got, want := Intervals(n), []int64{3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after 5 pushes into a ring of 3: %v, want %v", got, want)
	}
	// The window shrinks: keep the most recent entries.
	PushInterval(n, 6, 2)
	if got, want := Intervals(n), []int64{5, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after shrinking to 2: %v, want %v", got, want)
	}
	// The window grows: append until full.
	PushInterval(n, 7, 4)
	PushInterval(n, 8, 4)
	PushInterval(n, 9, 4)
	if got, want := Intervals(n), []int64{6, 7, 8, 9}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after growing to 4: %v, want %v", got, want)
	}
}
