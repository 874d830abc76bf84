package detect

// signals is a Sink that keeps what it is given, for tests.
type signals struct{ got []Signal }

func (s *signals) Emit(sig Signal) { s.got = append(s.got, sig) }

var _ Sink = (*signals)(nil)
