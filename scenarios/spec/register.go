package spec

// The synthetic pharmacy register a testbed generates must hold every
// legitimate account the scenario onboards; a run found out too late
// otherwise, with an empty run directory.
const (
	// DefaultRegisterSize is what a testbed generates when the scenario
	// needs no more (serve's register_size default).
	DefaultRegisterSize = 2000
	// MaxRegisterSize is the largest register serve generates
	// (register_size is checked against it).
	MaxRegisterSize = 100000
)

// registerNeed is how many register entries the classes onboard:
// legitimate pharmacies of issue classes and the accounts
// stolen-credentials classes take over.
func registerNeed(classes []Class) int {
	n := 0
	for _, c := range classes {
		if (c.Kind == KindIssue && !c.IsPractice()) || c.Kind == KindStolenCredentials || c.Kind == KindBooking || c.Kind == KindVendor {
			n += max(c.Pharmacies, 1)
		}
	}
	return n
}

// RegisterSize is the synthetic register a testbed generates for the
// scenario: large enough for every account it onboards, never below the
// default (so a scenario that fits draws the same pharmacies as before).
func (s *Scenario) RegisterSize() int {
	return max(DefaultRegisterSize, registerNeed(s.Traffic))
}
