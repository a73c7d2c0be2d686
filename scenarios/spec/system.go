package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

// portalFields is the shape of portalapi.Config as JSON (names and nesting),
// taken from the preset itself so a renamed field cannot drift from what
// scenarios may override.
func portalFields() map[string]any {
	b, err := json.Marshal(portalapi.HardenedConfig())
	if err != nil {
		panic(fmt.Sprintf("spec: portal config does not marshal: %v", err))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("spec: portal config does not unmarshal: %v", err))
	}
	return m
}

// PortalFieldNames lists every overridable portal setting as a dotted
// path ("limits.issue.max_concurrent"), sorted.
func PortalFieldNames() []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			if prefix+k != "profile" {
				out = append(out, prefix+k)
			}
		}
	}
	walk("", portalFields())
	sort.Strings(out)
	return out
}

// portalOverrides reads a mapping of portalapi.Config JSON names. Each leaf
// is decoded into a portalapi.Config on its own, so a wrong type or a bad
// duration is reported at its own line.
func (d *decoder) portalOverrides(n *yaml.Node, path string) map[string]any {
	out := map[string]any{}
	d.portalLevel(n, path, portalFields(), nil, out)
	return out
}

func (d *decoder) portalLevel(n *yaml.Node, path string, shape map[string]any, keys []string, out map[string]any) {
	names := make([]string, 0, len(shape))
	for k := range shape {
		names = append(names, k)
	}
	f, ok := d.mapping(n, path, names...)
	if !ok {
		return
	}
	if len(keys) == 0 && f.has("profile") {
		// The preset is chosen by system.profile (or --profile), not here.
		d.errorf(f.keys["profile"], "%s.profile: choose the profile with system.profile or --profile", path)
		delete(f.vals, "profile")
	}
	for k, v := range f.vals {
		kp := path + "." + k
		if sub, ok := shape[k].(map[string]any); ok {
			m := map[string]any{}
			d.portalLevel(v, kp, sub, append(append([]string(nil), keys...), k), m)
			out[k] = m
			continue
		}
		val, err := jsonValue(v)
		if err != nil {
			d.errorf(resolve(v), "%s: %v", kp, err)
			continue
		}
		// Wrap the leaf in its parents and decode it alone.
		var leaf any = map[string]any{k: val}
		for i := len(keys) - 1; i >= 0; i-- {
			leaf = map[string]any{keys[i]: leaf}
		}
		raw, _ := json.Marshal(leaf)
		cfg := portalapi.HardenedConfig()
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			d.errorf(resolve(v), "%s: %s does not fit (want %s): %v", kp, describe(resolve(v)), jsonKind(shape[k]), trimJSONErr(err))
			continue
		}
		out[k] = val
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "true or false"
	case float64:
		return "a number"
	case string:
		return "a string (durations like 1500ms)"
	}
	return "a value"
}

func trimJSONErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}

// merged is base with over's leaves written over it (nested maps merge).
func merged(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merged(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// PortalOverrides is System.Portal with the profile's overrides on top.
func (s *Scenario) PortalOverrides(profile string) map[string]any {
	return merged(s.System.Portal, s.Profiles[profile].Portal)
}

// PortalConfig is the portal configuration a run with profile uses: the
// profile's preset with the scenario's overrides applied and validated.
func (s *Scenario) PortalConfig(profile string) (portalapi.Config, error) {
	cfg, err := portalapi.ConfigForProfile(profile)
	if err != nil {
		return cfg, err
	}
	over := s.PortalOverrides(profile)
	if len(over) == 0 {
		return cfg, nil
	}
	raw, err := json.Marshal(over)
	if err != nil {
		return cfg, fmt.Errorf("scenario %s: portal overrides: %w", s.Name, err)
	}
	if err := cfg.ApplyJSON(raw); err != nil {
		return cfg, fmt.Errorf("scenario %s, profile %s: %w", s.Name, profile, err)
	}
	return cfg, nil
}

// SignerConfig is the settings of every signer replica under profile:
// the preset, the HSM model and the overrides, as `golive serve --config`
// reads them under "signer".
func (s *Scenario) SignerConfig(profile string) (signerapi.Settings, error) {
	cfg, err := signerapi.SettingsForProfile(profile)
	if err != nil {
		return cfg, fmt.Errorf("scenario %s: unknown profile %q (want %s)", s.Name, profile, profileList())
	}
	if s.System.HSM.Slots > 0 {
		cfg.HSMSlots = s.System.HSM.Slots
	}
	if s.System.HSM.Latency > 0 {
		cfg.HSMLatency = signerapi.Duration(s.System.HSM.Latency)
	}
	s.System.Signer.Apply(&cfg)
	s.Profiles[profile].Signer.Apply(&cfg)
	return cfg, nil
}

// Apply writes the set overrides into c.
func (o SignerOverrides) Apply(c *signerapi.Settings) {
	if o.Shed != nil {
		c.Shed = *o.Shed
	}
	if o.ShedRetryAfter != nil {
		c.ShedRetryAfter = signerapi.Duration(*o.ShedRetryAfter)
	}
	if o.RejectUnmeetable != nil {
		c.RejectUnmeetable = *o.RejectUnmeetable
	}
	if o.LockoutMark != nil {
		c.LockoutMark = *o.LockoutMark
	}
	if o.LockoutFor != nil {
		c.LockoutFor = signerapi.Duration(*o.LockoutFor)
	}
	if o.ClampValidity != nil {
		c.ClampValidity = *o.ClampValidity
	}
}

// checkPortalConfigs applies the overrides to every profile's preset and
// validates the result: a combination can be wrong where each leaf is
// fine (issue_deadline no longer above sign_call_timeout).
func (d *decoder) checkPortalConfigs(s *Scenario, root fields) {
	for _, p := range portalapi.Profiles() {
		if len(s.PortalOverrides(p)) == 0 {
			continue
		}
		if _, err := s.PortalConfig(p); err != nil {
			at := root.node
			if sys := root.get("system"); sys != nil {
				at = resolve(sys)
				if pn := childValue(at, "portal"); pn != nil {
					at = pn
				}
			}
			if pr := root.get("profiles"); pr != nil {
				if pn := childValue(childValue(resolve(pr), p), "portal"); pn != nil && len(s.Profiles[p].Portal) > 0 {
					at = pn
				}
			}
			d.errorf(at, "portal settings under profile %s: %s", p, strings.ReplaceAll(strings.TrimPrefix(err.Error(), "scenario "+s.Name+", "), "\n", "; "))
		}
	}
}

// childValue is the value node of key in mapping n (nil when absent).
func childValue(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if resolve(n.Content[i]).Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}
