package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

// The simulator's fault settings: Harsh while a fault window is open (on
// the order endpoint: 5xx that did nothing, requests held until the
// client gives up that take effect half the time; latency everywhere),
// Calm otherwise.
const (
	Calm  = `{"latency": "1ms", "latency_jitter": "4ms"}`
	Harsh = `{"latency": "20ms", "latency_jitter": "30ms", "error_5xx_rate": 0.05, "timeout_rate": 0.05,` +
		` "timeout_applies_rate": 0.5, "paths": ["/api/v3/order"]}`
)

var adminClient = &http.Client{Timeout: 30 * time.Second}

func adminDo(ctx context.Context, method, url, body string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// SetFaults replaces the simulator's fault injection.
func SetFaults(ctx context.Context, admin, faults string) error {
	return adminDo(ctx, http.MethodPut, admin+"/sim/faults", faults, nil)
}

// VenueLog is the simulator's order log.
func VenueLog(ctx context.Context, admin string) ([]binancesim.ClientOrders, error) {
	var out struct {
		ClientOrders []binancesim.ClientOrders `json:"client_orders"`
	}
	err := adminDo(ctx, http.MethodGet, admin+"/sim/orders", "", &out)
	return out.ClientOrders, err
}

// VenueStats is the simulator's counters.
func VenueStats(ctx context.Context, admin string) (binancesim.Stats, error) {
	var st binancesim.Stats
	err := adminDo(ctx, http.MethodGet, admin+"/sim/stats", "", &st)
	return st, err
}
