package projections

// SetBeforeCommit installs a hook that runs before each batch commits (tests only).
func SetBeforeCommit(p *Projector, f func(lastSeq uint64) error) { p.beforeCommit = f }
