package portal

import (
	"fmt"
	"net/http"
	"time"

	"github.com/golive-dev/golive/issuer/portal/staffweb"
)

// newStaffWeb builds the staff web portal (package staffweb) on this
// portal's own API: its pages call p.handler in-process, so they go
// through the same routes, admission, quotas and deferral as any client.
// key is the token key; staffweb derives its own keys from it, so its
// forms stay valid across a restart whenever the tokens do.
func (p *Portal) newStaffWeb(key []byte) (http.Handler, error) {
	loc := time.Local
	if p.cfg.Anomaly.TimeZone != "" {
		if l, err := p.cfg.Anomaly.Location(); err == nil {
			loc = l // the counter's time zone, as fraud detection judges it
		}
	}
	w, err := staffweb.New(staffweb.Options{
		API:              http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }),
		Key:              key,
		Clock:            p.clock,
		Logger:           p.log,
		SignersAvailable: p.signers.Available,
		Backlog:          p.backlog.Load,
		Defers:           p.cfg.DeferOnSignerUnavailable,
		DrainRate:        p.cfg.DeferredDrainRate,
		Country:          p.cfg.Country,
		Location:         loc,
		IdleTimeout:      p.cfg.StaffWeb.SessionIdle.D(),
		MaxAge:           p.cfg.StaffWeb.SessionMaxAge.D(),
		KeepForms:        p.cfg.StaffWeb.KeepFormsOnExpiry,
		SecureCookies:    p.cfg.StaffWeb.SecureCookies,
		BodyReadTimeout:  p.cfg.HTTP.BodyReadTimeout.D(),
		// A double click waits for the first post as long as that one can
		// take: the issuance deadline, or the sign call when there is none.
		InUseWait:     max(p.cfg.IssueDeadline.D(), p.cfg.SignCallTimeout.D()),
		WaitForSigner: p.cfg.StaffWeb.WaitForSigner.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("portal: staff web: %w", err)
	}
	return w, nil
}
