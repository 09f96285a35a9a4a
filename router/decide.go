package router

import (
	"fmt"
	"slices"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
)

// HealthView tells the router whether a key may take new orders now.
type HealthView interface {
	// Usable reports whether key can take new orders at now; a key never
	// heard from is usable (its orders wait in EXEC until it starts).
	Usable(key string, now time.Time) bool
}

// Decision is where an intent goes: a Key, or a Reason it is refused.
type Decision struct {
	Key     string
	Reason  messages.Reason
	Message string
}

// ChooseKey decides which key takes in, or why none does. It checks that
// the strategy is configured and may use the key or venue the intent asks
// for, and that the intent has not expired at now; then takes the first
// usable key of the strategy's list. If none is usable, an intent with a
// deadline goes to the first allowed key to wait there (its executor
// expires it if the key cannot send it in time); one without is refused
// with key_unavailable.
func ChooseKey(cfg *configs.Config, health HealthView, in *messages.OrderIntent, now time.Time) Decision {
	st, ok := cfg.Strategies[in.Strategy]
	if !ok {
		return Decision{Reason: messages.ReasonUnknownStrategy, Message: fmt.Sprintf("strategy %q is not configured", in.Strategy)}
	}
	if in.ExpiresAt != nil && !now.Before(*in.ExpiresAt) {
		return Decision{Reason: messages.ReasonExpired, Message: "expires_at " + in.ExpiresAt.Format(time.RFC3339Nano) + " had passed when the intent arrived"}
	}
	candidates := st.Keys
	if in.Key != "" {
		if !slices.Contains(st.Keys, in.Key) {
			return Decision{Reason: messages.ReasonNotPermitted, Message: fmt.Sprintf("key %q is not one strategy %s may use", in.Key, in.Strategy)}
		}
		candidates = []string{in.Key}
	}
	if in.Venue != "" {
		var onVenue []string
		for _, k := range candidates {
			if cfg.Keys[k].Venue == in.Venue {
				onVenue = append(onVenue, k)
			}
		}
		if len(onVenue) == 0 {
			return Decision{Reason: messages.ReasonNotPermitted, Message: fmt.Sprintf("strategy %s may use no key of venue %q", in.Strategy, in.Venue)}
		}
		candidates = onVenue
	}
	for _, k := range candidates {
		if health.Usable(k, now) {
			return Decision{Key: k}
		}
	}
	if in.ExpiresAt != nil {
		return Decision{Key: candidates[0]}
	}
	return Decision{Reason: messages.ReasonKeyUnavailable, Message: fmt.Sprintf("no usable key among %v and the intent has no expires_at to wait for", candidates)}
}
