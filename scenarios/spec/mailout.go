package spec

import (
	"time"
)

// KindMailout: vaccination centres mailing certificates by post, as batch
// jobs through the mail-out API (docs/mailout.md). Its demand is
// real-world letters (items) per second; the engine gathers them into jobs
// of items_per_job and submits each with an Idempotency-Key, so a retry
// never makes a second job. YAML:
//
//   - name: centres
//     kind: mailout
//     mailout: {items_per_job: 200, centres: 3, poll_every: 1s}
//     demand: [...]
//
// A scenario with a mailout class runs the portal with the mail-out on
// (serve --mailout).
const KindMailout ClassKind = "mailout"

// Mailout is how a mailout class submits and follows its jobs.
type Mailout struct {
	// ItemsPerJob is the items of one job (the 2021 batches had thousands
	// of letters; runs scale them down). At most MaxMailoutItemsPerJob.
	ItemsPerJob int
	// Centres is how many vaccination centres submit (each its own
	// token); jobs go to them in turn. At most MaxMailoutCentres.
	Centres int
	// PollEvery is the wall time between two status polls of the
	// unfinished jobs: the resolution of the items' latency.
	PollEvery time.Duration
}

// Bounds of Mailout.
const (
	// MaxMailoutItemsPerJob is the mail-out's max_items preset.
	MaxMailoutItemsPerJob = 5000
	// MaxMailoutCentres is the centres a new data directory has tokens for.
	MaxMailoutCentres = 3
)

// DefaultMailout is a mailout class's Mailout before the file's settings.
var DefaultMailout = Mailout{ItemsPerJob: 200, Centres: 1, PollEvery: time.Second}

// HasMailout reports whether any class is a mail-out (the portal then
// serves the batch API).
func (s *Scenario) HasMailout() bool {
	for _, c := range s.Traffic {
		if c.Kind == KindMailout {
			return true
		}
	}
	return false
}

// mailout reads a class's mailout block.
func (d *decoder) mailout(f fields, path string, c *Class) {
	n := f.get("mailout")
	if c.Kind != KindMailout {
		if n != nil {
			d.errorf(f.keys["mailout"], "%s.mailout: only a mailout class has one (this is a %s class)", path, c.Kind)
		}
		return
	}
	m := DefaultMailout
	c.Mailout = &m
	if n == nil {
		return
	}
	path += ".mailout"
	mf, ok := d.mapping(n, path, "items_per_job", "centres", "poll_every")
	if !ok {
		return
	}
	if v := mf.get("items_per_job"); v != nil {
		if x, ok := d.intIn(v, path+".items_per_job", 1, MaxMailoutItemsPerJob); ok {
			m.ItemsPerJob = x
		}
	}
	if v := mf.get("centres"); v != nil {
		if x, ok := d.intIn(v, path+".centres", 1, MaxMailoutCentres); ok {
			m.Centres = x
		}
	}
	if v := mf.get("poll_every"); v != nil {
		if x, ok := d.positive(v, path+".poll_every"); ok {
			m.PollEvery = x
		}
	}
}
