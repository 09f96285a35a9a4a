package binancesim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// SetFaults replaces the fault injection from now on (a user data stream
// connection keeps the DropStreamEvery it opened with).
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.Set(f)
	return nil
}

// Faults returns the fault injection in force.
func (s *Server) Faults() Faults { return s.faults.Faults() }

// AdminHandler serves the simulator's own API, which Binance does not
// have, for tests and the chaos suite in other processes:
//
//	GET /sim/stats    Stats as JSON (requests, rejected_429, banned_418, ...)
//	GET /sim/orders   {"placements", "client_order_ids", "reused",
//	                  "client_orders": [ClientOrders...]}; query parameters
//	                  account, client_order_id and reused=true filter it
//	GET /sim/faults   the fault injection in force, as JSON
//	PUT /sim/faults   replace it: a Faults object in JSON or YAML, with
//	                  the config file's field names ("latency": "20ms")
//
// It is never mounted on the Binance API's address: StartAdmin serves it
// on a listener of its own, which keyrouter exchange-sim opens with
// --admin.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /sim/orders", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		acct, id, reused := q.Get("account"), q.Get("client_order_id"), q.Get("reused") == "true"
		log := s.OrderLog()
		out := struct {
			Placements     int            `json:"placements"`
			ClientOrderIDs int            `json:"client_order_ids"`
			Reused         int            `json:"reused"`
			ClientOrders   []ClientOrders `json:"client_orders"`
		}{ClientOrders: []ClientOrders{}}
		for _, e := range log {
			if acct != "" && e.Account != acct || id != "" && e.ClientOrderID != id || reused && e.Placements < 2 {
				continue
			}
			out.Placements += e.Placements
			out.ClientOrderIDs++
			if e.Placements > 1 {
				out.Reused++
			}
			out.ClientOrders = append(out.ClientOrders, e)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, faultsDoc(s.Faults()))
	})
	mux.HandleFunc("PUT /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var f Faults
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true) // JSON is YAML: one decoder takes both
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("faults: %v", err)})
			return
		}
		if err := s.SetFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, faultsDoc(f))
	})
	return mux
}

// faultsJSON is Faults with durations written as "20ms".
type faultsJSON struct {
	Latency            string   `json:"latency"`
	LatencyJitter      string   `json:"latency_jitter"`
	Error5xxRate       float64  `json:"error_5xx_rate"`
	TimeoutRate        float64  `json:"timeout_rate"`
	TimeoutAppliesRate float64  `json:"timeout_applies_rate"`
	DropStreamEvery    int      `json:"drop_stream_every"`
	Paths              []string `json:"paths"`
}

func faultsDoc(f Faults) faultsJSON {
	paths := f.Paths
	if paths == nil {
		paths = []string{}
	}
	return faultsJSON{
		Latency: f.Latency.String(), LatencyJitter: f.LatencyJitter.String(),
		Error5xxRate: f.Error5xxRate, TimeoutRate: f.TimeoutRate, TimeoutAppliesRate: f.TimeoutAppliesRate,
		DropStreamEvery: f.DropStreamEvery, Paths: paths,
	}
}

// StartAdmin serves AdminHandler on a listener of its own at addr (e.g.
// 127.0.0.1:0) until Close, and returns its base URL.
func (s *Server) StartAdmin(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin {
		return "", errors.New("binancesim: admin already started")
	}
	url, err := s.host.Serve(addr, s.AdminHandler())
	if err != nil {
		return "", fmt.Errorf("binancesim: admin: %w", err)
	}
	s.admin = true
	return url, nil
}
