package engine

import (
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// publicClasses are the classes of the public's routes (finder.go,
// lists.go): their clients' state and what they are judged by.
type publicClasses struct {
	// issuing is the legitimate pharmacies' issuance, the finder's ground truth.
	issuing *issuingTrack
	finders map[string]*finderClass
	lists   map[string]*listsClass
}

// publicRequest is the RequestFunc of a finder or verifier-lists class
// (nil for another kind).
func (r *run) publicRequest(c spec.Class, seed uint64, setups []*classSetup) loadgen.RequestFunc {
	if r.public == nil {
		r.public = &publicClasses{issuing: newIssuingTrack(setups), finders: map[string]*finderClass{}, lists: map[string]*listsClass{}}
	}
	switch c.Kind {
	case spec.KindFinder:
		f := r.newFinderClass(c, seed, setups)
		r.public.finders[c.Name] = f
		return f.request
	case spec.KindLists:
		l := r.newListsClass(c, seed)
		r.public.lists[c.Name] = l
		return l.request
	}
	return nil
}

// observePublic feeds a final to the public classes: an issue class's to
// the finder's ground truth, a finder's or an app's to its class. It
// reports whether the final belonged to a public class (nothing else
// observes those).
func (r *run) observePublic(f loadgen.Final, kind spec.ClassKind) bool {
	p := r.public
	if p == nil {
		return false
	}
	switch kind {
	case spec.KindIssue:
		p.issuing.note(f)
	case spec.KindFinder:
		if c := p.finders[f.Class]; c != nil {
			c.observe(f)
		}
		return true
	case spec.KindLists:
		if c := p.lists[f.Class]; c != nil {
			c.observe(f)
		}
		return true
	}
	return false
}

// publicSummaries adds what the public classes judged to their summaries.
func (r *run) publicSummaries(classes map[string]rundir.ClassSummary) {
	for name, cs := range classes {
		kind := r.kinds[name]
		if kind != spec.KindFinder && kind != spec.KindLists {
			continue
		}
		if cs.Requests > 0 {
			rate := float64(cs.NotModified) / float64(cs.Requests)
			cs.CacheHitRate = &rate
		}
		if r.public != nil {
			if f := r.public.finders[name]; f != nil {
				cs.Finder = f.summary(r.clock.Sim)
				cs.DeadListings = &cs.Finder.DeadListings
			}
			if l := r.public.lists[name]; l != nil {
				cs.Lists = l.summary()
				cs.SignatureFailures = &cs.Lists.SignatureFailures
			}
		}
		classes[name] = cs
	}
}
