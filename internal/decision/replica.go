package decision

// Replicate holds d exactly as another node of a cluster recorded it (its
// id, offense, creation and expiry), in place of the decision its entity
// has, unless that one is to be preferred: still active and stronger, or
// as strong and lasting longer (ties: the larger id). Every node applies
// every node's decisions through it, so all of them settle on the same
// decision per entity. A d that already expired, or is already held, is
// ignored. It persists like Add.
func (s *Local) Replicate(d Decision) error {
	now := s.opts.Now().UnixNano()
	sc, err := normalize(&d)
	if err != nil {
		return err
	}
	exp := d.Expires.UnixNano()
	if d.ID == "" || exp <= now {
		return nil
	}
	s.mu.Lock()
	if s.byID[d.ID] != nil {
		s.mu.Unlock()
		return nil
	}
	ids := []string{d.ID}
	if old := s.lookupLocked(sc, d.Value); old != nil {
		if old.exp > now && preferred(old.d, &d) {
			s.mu.Unlock()
			return nil
		}
		s.removeLocked(old)
		ids = append(ids, old.d.ID)
	}
	for len(s.byID) >= s.opts.MaxDecisions {
		victim := s.heap[0]
		s.removeLocked(victim)
		s.dropped.Add(1)
		ids = append(ids, victim.d.ID)
	}
	stored := d.clone()
	s.insertLocked(&entry{d: &stored, exp: exp, scope: sc})
	s.mu.Unlock()
	return s.persist(ids, nil)
}

// preferred reports whether a is to be kept over b for one entity.
func preferred(a, b *Decision) bool {
	switch {
	case a.Stronger(b):
		return true
	case b.Stronger(a):
		return false
	case !a.Expires.Equal(b.Expires):
		return a.Expires.After(b.Expires)
	}
	return a.ID > b.ID
}
