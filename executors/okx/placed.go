package okx

// placedCap bounds the client IDs a Venue remembers having placed; the
// oldest are forgotten first.
const placedCap = 1 << 18

// placedSet is the client IDs this Venue knows it placed. OKX lets a
// clOrdId be used again once its order is closed, so without it a second
// Place of one order would make a second order. It lives as long as the
// Venue: after a restart the executor's own record (and its query before
// any resend) is what keeps an order from being placed twice.
type placedSet struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func (p *placedSet) add(id string) {
	if p.ids == nil {
		p.ids = make(map[string]struct{})
	}
	if _, ok := p.ids[id]; ok {
		return
	}
	if len(p.ring) < placedCap {
		p.ring = append(p.ring, id)
	} else {
		delete(p.ids, p.ring[p.next])
		p.ring[p.next] = id
		p.next = (p.next + 1) % placedCap
	}
	p.ids[id] = struct{}{}
}

func (p *placedSet) has(id string) bool {
	_, ok := p.ids[id]
	return ok
}

func (v *Venue) markPlaced(id string) {
	v.pmu.Lock()
	v.placed.add(id)
	v.pmu.Unlock()
}

func (v *Venue) placedBefore(id string) bool {
	v.pmu.Lock()
	defer v.pmu.Unlock()
	return v.placed.has(id)
}
