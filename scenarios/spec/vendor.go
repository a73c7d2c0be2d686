package spec

import (
	"fmt"
	"math"
	"regexp"
	"time"
)

// KindVendor: pharmacies issuing through their software vendors (vendor
// access, docs/vendor-access.md): each vendor's gateway signs the
// pharmacy's requests with the vendor's key and forwards them to the
// portal's vendor API. The class's pharmacies are shared among its
// vendors; each vendor becomes ready at its own time and may be down,
// slow or send an incompatible field format for a while.
const KindVendor ClassKind = "vendor"

// VendorFault is what a vendor's gateway does wrong.
type VendorFault string

// The vendor faults.
const (
	// VendorDown: no gateway answers (connection refused), as before a
	// vendor is ready.
	VendorDown VendorFault = "down"
	// VendorSlow: the gateway holds every request longer than the
	// pharmacy's client waits, then forwards nothing the client gave up on.
	VendorSlow VendorFault = "slow"
	// VendorIncompatible: the gateway sends the birth date as DD.MM.YYYY
	// (the portal takes ISO 8601).
	VendorIncompatible VendorFault = "incompatible"
)

// VendorFaults lists every fault.
func VendorFaults() []VendorFault { return []VendorFault{VendorDown, VendorSlow, VendorIncompatible} }

// VendorClass is a vendor class's own settings (Class.Vendor).
type VendorClass struct {
	Vendors []Vendor
	// StopDirectAt, when set, is when the admin switches direct portal
	// access off (21 July 2021): pharmacies' own issuance gets 403
	// direct_access_stopped from then on, vendor access goes on.
	StopDirectAt time.Time
	// RestartDirectAt, when set, switches it on again.
	RestartDirectAt time.Time
}

// Vendor is one pharmacy-software vendor of a vendor class.
type Vendor struct {
	// Name is the vendor's id (lower-case letters, digits, '-').
	Name string
	// Share is the vendor's part of the class's pharmacies and demand
	// (normalised over the class's vendors).
	Share float64
	// ReadyAt is when the vendor's access works; before it the gateway
	// is down (zero: from the start).
	ReadyAt time.Time
	// Fault is what the gateway does wrong between FaultFrom (zero:
	// ReadyAt) and FaultUntil (zero: the end of the run).
	Fault                 VendorFault
	FaultFrom, FaultUntil time.Time
	// Backlog is extra demand of the vendor's own on top of its share:
	// the paper records its pharmacies key in once access works.
	Backlog Curve
	Pos     Pos
}

// Rate is the vendor's demand at t: its share of the class's demand
// (shares normalised by total) plus its backlog. Before ReadyAt its
// pharmacies still try (and find no gateway).
func (v Vendor) Rate(class Curve, total float64, t time.Time) float64 {
	r := 0.0
	if total > 0 {
		r = class.Rate(t) * v.Share / total
	}
	if !v.Backlog.IsZero() {
		r += v.Backlog.Rate(t)
	}
	return r
}

// FaultAt is the fault the vendor's gateway has at t ("" when it works).
// Before ReadyAt it is down.
func (v Vendor) FaultAt(t time.Time) VendorFault {
	if !v.ReadyAt.IsZero() && t.Before(v.ReadyAt) {
		return VendorDown
	}
	if v.Fault == "" {
		return ""
	}
	from := v.FaultFrom
	if from.IsZero() {
		from = v.ReadyAt
	}
	if !from.IsZero() && t.Before(from) {
		return ""
	}
	if !v.FaultUntil.IsZero() && !t.Before(v.FaultUntil) {
		return ""
	}
	return v.Fault
}

// TotalShare is the sum of the vendors' shares.
func (vc *VendorClass) TotalShare() float64 {
	s := 0.0
	for _, v := range vc.Vendors {
		s += v.Share
	}
	return s
}

// PharmaciesOf splits n pharmacies among the vendors by share (each gets
// at least one; the rest go to the largest remainders in order).
func (vc *VendorClass) PharmaciesOf(n int) []int {
	out := make([]int, len(vc.Vendors))
	total := vc.TotalShare()
	if len(out) == 0 || total <= 0 {
		return out
	}
	left := n
	for i, v := range vc.Vendors {
		out[i] = max(1, int(math.Floor(float64(n)*v.Share/total)))
		left -= out[i]
	}
	for i := 0; left > 0; i = (i + 1) % len(out) {
		out[i]++
		left--
	}
	return out
}

// vendorKeys are the class keys only a vendor class takes.
var vendorKeys = []string{"vendors", "stop_direct_at", "restart_direct_at"}

// vendorClass reads a vendor class's own keys from f (Class.Vendor), and
// refuses them on any other kind.
func (d *decoder) vendorClass(f fields, path string, c *Class) {
	if c.Kind != KindVendor {
		for _, k := range vendorKeys {
			if f.has(k) {
				d.errorf(f.keys[k], "%s.%s: only a vendor class has vendors", path, k)
			}
		}
		return
	}
	vc := &VendorClass{}
	c.Vendor = vc
	if !f.has("vendors") {
		d.errorf(f.node, "%s: a vendor class needs \"vendors\"", path)
		return
	}
	for _, k := range []string{"stop_direct_at", "restart_direct_at"} {
		if n := f.get(k); n != nil {
			if t, ok := d.when(n, path+"."+k); ok {
				if k == "stop_direct_at" {
					vc.StopDirectAt = t
				} else {
					vc.RestartDirectAt = t
				}
			}
		}
	}
	if !vc.StopDirectAt.IsZero() && !vc.RestartDirectAt.IsZero() && !vc.RestartDirectAt.After(vc.StopDirectAt) {
		d.errorf(f.keys["restart_direct_at"], "%s.restart_direct_at: must follow stop_direct_at", path)
	}
	items, ok := d.list(f.get("vendors"), path+".vendors")
	if !ok {
		return
	}
	if len(items) == 0 || len(items) > 20 {
		d.errorf(resolve(f.get("vendors")), "%s.vendors: 1 to 20 vendors", path)
	}
	seen := map[string]bool{}
	for i, it := range items {
		vp := fmt.Sprintf("%s.vendors[%d]", path, i)
		vf, ok := d.mapping(it, vp, "name", "share", "ready_at", "fault", "fault_from", "fault_until", "backlog")
		if !ok || !d.require(vf, vp, "name", "share") {
			continue
		}
		v := Vendor{Pos: d.pos(vf.node)}
		if name, ok := d.str(vf.get("name"), vp+".name"); ok {
			if !vendorNameRE.MatchString(name) {
				d.errorf(resolve(vf.get("name")), "%s.name: %q must be 1 to 32 lower-case letters, digits and '-'", vp, name)
			}
			if seen[name] {
				d.errorf(resolve(vf.get("name")), "%s.name: vendor %q is already named", vp, name)
			}
			seen[name] = true
			v.Name = name
		}
		if sh, ok := d.float(vf.get("share"), vp+".share"); ok {
			if !(sh > 0) || sh > 1 {
				d.errorf(resolve(vf.get("share")), "%s.share: must be in (0, 1]", vp)
			}
			v.Share = sh
		}
		for key, dst := range map[string]*time.Time{"ready_at": &v.ReadyAt, "fault_from": &v.FaultFrom, "fault_until": &v.FaultUntil} {
			if n := vf.get(key); n != nil {
				if t, ok := d.when(n, vp+"."+key); ok {
					*dst = t
				}
			}
		}
		if n := vf.get("fault"); n != nil {
			if s, ok := d.str(n, vp+".fault"); ok {
				v.Fault = VendorFault(s)
				if !contains(VendorFaults(), v.Fault) {
					d.errorf(resolve(n), "%s.fault: unknown fault %q (want down, slow or incompatible)", vp, s)
				}
			}
		} else if vf.has("fault_from") || vf.has("fault_until") {
			d.errorf(vf.node, "%s: fault_from and fault_until need a fault", vp)
		}
		if !v.FaultFrom.IsZero() && !v.FaultUntil.IsZero() && !v.FaultUntil.After(v.FaultFrom) {
			d.errorf(resolve(vf.get("fault_until")), "%s.fault_until: must follow fault_from", vp)
		}
		if n := vf.get("backlog"); n != nil {
			v.Backlog = d.curve(n, vp+".backlog")
		}
		vc.Vendors = append(vc.Vendors, v)
	}
	if n := len(vc.Vendors); n > 0 && c.Pharmacies < n {
		d.errorf(f.node, "%s.pharmacies: %d pharmacies cannot be shared among %d vendors", path, c.Pharmacies, n)
	}
}

// vendorNameRE is vendorapi.ValidVendorID's rule (the spec links no issuer code).
var vendorNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// demandOf is the vendor class's whole demand: the class's curve plus
// every vendor's backlog.
func (vc *VendorClass) demandOf(class Curve) func(t time.Time) float64 {
	return func(t time.Time) float64 {
		r := class.Rate(t)
		for _, v := range vc.Vendors {
			if !v.Backlog.IsZero() {
				r += v.Backlog.Rate(t)
			}
		}
		return r
	}
}

// DemandAt is the class's whole demand at t (the class's curve plus, for a
// vendor class, every vendor's backlog).
func (c Class) DemandAt(t time.Time) float64 {
	if c.Vendor != nil {
		return c.Vendor.demandOf(c.Demand)(t)
	}
	return c.Demand.Rate(t)
}

// vendorClient is a vendor class's default client: pharmacy software
// that keeps a record until it is issued, so it retries and honours
// Retry-After (wall time, as the portal's quotas count), and follows
// tickets; nobody presses a button twice.
func vendorClient() Client {
	return Client{
		Timeout:          10 * time.Second,
		Retries:          Retries{Max: 3, BackoffBase: time.Second, BackoffMax: 10 * time.Second},
		HonourRetryAfter: true,
		PollTickets:      true,
	}
}
