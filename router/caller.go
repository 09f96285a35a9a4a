package router

import (
	"encoding/json"

	"github.com/nats-io/nats.go/micro"
)

// requestInfoHeader is the header the NATS server sets on a request that
// crossed a service import (nats-server's ClientInfoHdr), naming the
// caller's account and, when the import shares it, its user (nkey).
// The server overwrites any value the caller put there itself.
const requestInfoHeader = "Nats-Request-Info"

// Caller is who sent a control request, as the NATS server says.
type Caller struct {
	Account string `json:"acc"`
	User    string `json:"user,omitempty"`
	Name    string `json:"name,omitempty"`
}

// CallerOf returns the caller the server stamped on req, and false if there
// is none (the request did not cross an import) or it is unreadable.
func CallerOf(req micro.Request) (Caller, bool) {
	var c Caller
	v := req.Headers().Get(requestInfoHeader)
	if v == "" || json.Unmarshal([]byte(v), &c) != nil || c.Account == "" {
		return Caller{}, false
	}
	return c, true
}

// callerAllowed answers req with 403 and returns false unless the router
// takes control requests from anyone (Options.ControlAccount empty) or the
// server names Options.ControlAccount as the caller's account. Called at
// the top of every control handler.
func (r *Router) callerAllowed(req micro.Request) bool {
	want := r.opts.ControlAccount
	if want == "" {
		return true
	}
	c, ok := CallerOf(req)
	if !ok || c.Account != want {
		r.log.Warn().Str("subject", req.Subject()).Str("account", c.Account).Str("user", c.User).
			Msg("control request refused: not from the operator account")
		_ = req.Error("403", "forbidden: the control service answers only account "+want, nil)
		return false
	}
	r.log.Info().Str("subject", req.Subject()).Str("user", c.User).Str("name", c.Name).Msg("control request")
	return true
}
