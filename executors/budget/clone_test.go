package budget

import (
	"testing"
	"time"
)

func TestCloneIsPrivate(t *testing.T) {
	g := NewGroups()
	limits := []Limit{
		{Name: "own", Shape: Sliding, Max: 3, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}},
		{Name: "acct", Shape: Fixed, Max: 5, Window: 10 * time.Second, Costs: map[Class]int64{ClassNew: 1}, Scope: "account:a"},
	}
	b, err := New(limits, g)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(limits, g)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	op := Op{Class: ClassNew}
	if ok, _ := b.TryTake(now, op); !ok {
		t.Fatal("first take refused")
	}
	c := b.Clone()
	taken := 0
	for {
		ok, _ := c.TryTake(now, op)
		if !ok {
			break
		}
		taken++
	}
	if taken != 2 {
		t.Errorf("clone took %d more, want 2 (its sliding limit already had 1 of 3)", taken)
	}
	// Neither the original nor a key sharing its account saw the clone's takes.
	if ok, _ := b.TryTake(now, op); !ok {
		t.Errorf("original refused after the clone was drained")
	}
	for i := 0; i < 3; i++ {
		if ok, _ := other.TryTake(now, op); !ok {
			t.Errorf("shared account refused take %d: the clone leaked into the group", i)
		}
	}
	if ok, _ := other.TryTake(now, op); ok {
		t.Errorf("account limit of 5 allowed a 6th take")
	}
}
