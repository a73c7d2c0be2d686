package spec

// Parties: an issue class issues as pharmacies (the default) or as
// doctors' practices, which joined in mid-July 2021 and onboard against
// their own register (docs/doctors.md). YAML, on an issue class:
//
//	party: practice          # pharmacy (default) | practice
//	join_at: "2021-07-12T08:00:00+02:00"  # when its parties onboard
//
// A class with join_at onboards its accounts when the simulated clock
// reaches it, not before the load, so the portal's onboarding gate (a
// practice may apply only from practice_onboarding_from on the business
// clock) sees the simulated day; its demand must be zero before then.

// Party kinds of Class.Party.
const (
	PartyPharmacy = "pharmacy"
	PartyPractice = "practice"
)

// PracticeRegisterSize is the practice register a testbed's data directory
// holds (serve's bootstrap generates it): a scenario's practice classes
// onboard at most this many accounts in all.
const PracticeRegisterSize = 500

// IsPractice reports whether the class issues as doctors' practices.
func (c Class) IsPractice() bool { return c.Party == PartyPractice }

// Joins reports whether the class onboards during the load (JoinAt set).
func (c Class) Joins() bool { return !c.JoinAt.IsZero() }

// party reads a class's party and join_at.
func (d *decoder) party(f fields, path string, s *Scenario, c *Class) {
	if n := f.get("party"); n != nil {
		v, ok := d.str(n, path+".party")
		switch {
		case !ok:
		case c.Kind != KindIssue:
			d.errorf(f.keys["party"], "%s.party: only an issue class issues as a party (this is a %s class)", path, c.Kind)
		case v != PartyPharmacy && v != PartyPractice:
			d.errorf(resolve(n), "%s.party: %q is neither %s nor %s", path, v, PartyPharmacy, PartyPractice)
		default:
			c.Party = v
		}
	}
	if c.Kind == KindIssue && c.Party == "" {
		c.Party = PartyPharmacy
	}
	if n := f.get("join_at"); n != nil {
		if c.Kind != KindIssue {
			d.errorf(f.keys["join_at"], "%s.join_at: only an issue class joins during the run (this is a %s class)", path, c.Kind)
			return
		}
		t, ok := d.when(n, path+".join_at")
		if !ok {
			return
		}
		if t.Before(s.Clock.Start) || !t.Before(s.Clock.End) {
			d.errorf(resolve(n), "%s.join_at: %s is outside the clock's window", path, d.fmtTime(t))
			return
		}
		c.JoinAt = t
		if !c.Demand.IsZero() && c.Demand.Total(s.Clock.Start, t) > 0 {
			d.errorf(resolve(n), "%s.demand: offers requests before join_at %s, when the class's parties have no accounts yet", path, d.fmtTime(t))
		}
	}
	if c.IsPractice() && c.Pharmacies > PracticeRegisterSize {
		d.errorf(f.node, "%s.pharmacies: %d practices, the practice register holds %d", path, c.Pharmacies, PracticeRegisterSize)
	}
}
