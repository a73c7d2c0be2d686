package vendors

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// File is the vendors file's shape (DATA/vendors.json): the vendors'
// public keys and the pharmacies' delegations. It holds no secret, but is
// written 0600 like every file of the data directory: who may act for
// whom is nobody else's business.
type File struct {
	Vendors     map[string]FileVendor `json:"vendors"`
	Delegations map[string][]string   `json:"delegations"` // pharmacy -> vendors
}

// FileVendor is one vendor in the file.
type FileVendor struct {
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"public_key"`
}

// store keeps the file in memory and writes every change through before
// it is acknowledged (a delegation the pharmacy was told of survives a
// restart).
type store struct {
	path string // "": memory only (tests)
	mu   sync.RWMutex
	f    File
	keys map[string]ed25519.PublicKey
}

// ReadFile reads a vendors file; a missing file is an empty one.
func ReadFile(path string) (File, error) {
	f := File{Vendors: map[string]FileVendor{}, Delegations: map[string][]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("vendors file: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("vendors file %s: %w", path, err)
	}
	if f.Vendors == nil {
		f.Vendors = map[string]FileVendor{}
	}
	if f.Delegations == nil {
		f.Delegations = map[string][]string{}
	}
	for id, v := range f.Vendors {
		if !vendorapi.ValidVendorID(id) {
			return f, fmt.Errorf("vendors file %s: vendor id %q is not valid", path, id)
		}
		if _, err := vendorapi.DecodePublicKey(v.PublicKey); err != nil {
			return f, fmt.Errorf("vendors file %s: vendor %s: %w", path, id, err)
		}
	}
	return f, nil
}

// WriteFile writes f to path atomically (temporary file, fsync, rename), 0600.
func WriteFile(path string, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("vendors file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vendors-*")
	if err != nil {
		return fmt.Errorf("vendors file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("vendors file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("vendors file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("vendors file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vendors file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("vendors file: %w", err)
	}
	return nil
}

func openStore(path string) (*store, error) {
	s := &store{path: path, f: File{Vendors: map[string]FileVendor{}, Delegations: map[string][]string{}}}
	if path != "" {
		f, err := ReadFile(path)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	s.rekey()
	return s, nil
}

func (s *store) rekey() {
	s.keys = make(map[string]ed25519.PublicKey, len(s.f.Vendors))
	for id, v := range s.f.Vendors {
		if k, err := vendorapi.DecodePublicKey(v.PublicKey); err == nil {
			s.keys[id] = k
		}
	}
}

// save writes the file (callers hold mu).
func (s *store) save() error {
	if s.path == "" {
		return nil
	}
	return WriteFile(s.path, s.f)
}

func (s *store) key(vendor string) (ed25519.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[vendor]
	return k, ok
}

func (s *store) delegated(pharmacy, vendor string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Contains(s.f.Delegations[pharmacy], vendor)
}

func (s *store) delegations(pharmacy string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string{}, s.f.Delegations[pharmacy]...)
}

var (
	errUnknownVendor = errors.New("unknown vendor")
	errTooMany       = errors.New("too many")
)

// delegate adds vendor to pharmacy's vendors; it reports whether it was new.
func (s *store) delegate(pharmacy, vendor string, max int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.f.Vendors[vendor]; !ok {
		return false, errUnknownVendor
	}
	cur := s.f.Delegations[pharmacy]
	if slices.Contains(cur, vendor) {
		return false, nil
	}
	if len(cur) >= max {
		return false, errTooMany
	}
	s.f.Delegations[pharmacy] = append(slices.Clone(cur), vendor)
	if err := s.save(); err != nil {
		s.f.Delegations[pharmacy] = cur
		return false, err
	}
	return true, nil
}

// withdraw removes vendor from pharmacy's vendors; it reports whether it was there.
func (s *store) withdraw(pharmacy, vendor string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.f.Delegations[pharmacy]
	i := slices.Index(cur, vendor)
	if i < 0 {
		return false, nil
	}
	next := slices.Delete(slices.Clone(cur), i, i+1)
	if len(next) == 0 {
		delete(s.f.Delegations, pharmacy)
	} else {
		s.f.Delegations[pharmacy] = next
	}
	if err := s.save(); err != nil {
		s.f.Delegations[pharmacy] = cur
		return false, err
	}
	return true, nil
}

// register adds or replaces a vendor.
func (s *store) register(id string, v FileVendor, max int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.f.Vendors[id]
	if !had && len(s.f.Vendors) >= max {
		return errTooMany
	}
	s.f.Vendors[id] = v
	if err := s.save(); err != nil {
		if had {
			s.f.Vendors[id] = old
		} else {
			delete(s.f.Vendors, id)
		}
		return err
	}
	s.rekey()
	return nil
}

// remove drops a vendor (its delegations stay void: no key, no access).
func (s *store) remove(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.f.Vendors[id]
	if !had {
		return false, nil
	}
	delete(s.f.Vendors, id)
	if err := s.save(); err != nil {
		s.f.Vendors[id] = old
		return false, err
	}
	s.rekey()
	return true, nil
}

func (s *store) list() []vendorapi.Vendor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]vendorapi.Vendor, 0, len(s.f.Vendors))
	for id, v := range s.f.Vendors {
		out = append(out, vendorapi.Vendor{ID: id, Name: v.Name, PublicKey: v.PublicKey})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
