package chaos

import (
	"context"
	"fmt"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed"
)

// registryOf is the target's PostgreSQL registry cluster, nil without one.
func registryOf(t Target) testbed.RegistryCluster {
	if r, ok := t.(interface {
		Registry() testbed.RegistryCluster
	}); ok {
		return r.Registry()
	}
	return nil
}

// validateKillPrimary: kill-primary acts on the registry cluster alone,
// and only a testbed running one can apply it.
func validateKillPrimary(t Target, f Fault) error {
	if f.Target != testbed.Registry {
		return fmt.Errorf("%w: %s acts on %q, not %q", ErrInvalid, fault.KillPrimary, testbed.Registry, f.Target)
	}
	if registryOf(t) == nil {
		return fmt.Errorf("testbed: %s is %w without a PostgreSQL registry (system.registry: postgres)", fault.KillPrimary, testbed.ErrUnsupported)
	}
	return nil
}

// applyKillPrimary kills the node that is primary now; the undo starts it
// again, and the testbed makes it a standby of whichever node was
// promoted meanwhile (or lets it recover as the primary).
func applyKillPrimary(ctx context.Context, t Target, _ Fault) (Undo, error) {
	reg := registryOf(t)
	killed, err := reg.KillPrimary(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return t.Start(ctx, killed) }, nil
}
