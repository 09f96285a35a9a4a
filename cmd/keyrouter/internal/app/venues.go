package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binance"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/executors/paper"
)

// binanceVenue connects key id to its Binance venue (starting the
// in-process simulator first if the venue simulates) and returns the venue
// and the key's budget limits, the preset's maxima taken from the venue's
// own exchangeInfo.
func (a *App) binanceVenue(ctx context.Context, id string, kc configs.Key) (executors.Venue, []budget.Limit, error) {
	vc := a.Config.Venues[kc.Venue]
	cfg := binance.Config{
		BaseURL: vc.BaseURL, WSURL: vc.WSURL, APIKey: kc.APIKey, KeyType: kc.KeyType,
		RecvWindow: vc.RecvWindow, UserStream: vc.UserStream, Timeout: vc.Timeout,
		Logger: a.Logger.With().Str("key", id).Str("venue", kc.Venue).Logger(),
	}
	if cfg.UserStream == "" {
		cfg.UserStream = binance.StreamWSAPI
	}
	if vc.Simulate {
		sim, err := a.simulator(kc.Venue)
		if err != nil {
			return nil, nil, err
		}
		cfg.BaseURL = sim.url
		cfg.WSURL = "ws" + strings.TrimPrefix(sim.url, "http")
		if cfg.UserStream == binance.StreamWSAPI {
			cfg.WSURL += "/ws-api/v3"
		}
		cfg.APIKey = simAPIKey(id, kc)
		cfg.Secret = sim.secrets[id]
	} else {
		secret, err := a.Config.LoadSecret(id)
		if err != nil {
			return nil, nil, err
		}
		cfg.Secret = secret
	}
	limits, err := kc.BudgetLimits()
	if err != nil {
		return nil, nil, fmt.Errorf("keys.%s: %w", id, err)
	}
	v, err := binance.New(ctx, cfg)
	if err != nil {
		// The venue does not answer: the key starts down and keeps
		// trying, while every other key trades. Its budget keeps the
		// preset's published limits until then.
		a.Logger.Warn().Err(err).Str("key", id).Msg("venue unreachable at start; the key is down until it answers")
		cv := executors.Connecting(kc.Venue, func(ctx context.Context) (executors.Venue, error) {
			return binance.New(ctx, cfg)
		}, func(executors.Venue) {
			a.Logger.Info().Str("key", id).Msg("venue reachable; the key is up")
		})
		return cv, limits, nil
	}
	if kc.Preset == "binance" {
		// The venue says what its limits are; trust it over the preset.
		byName := map[string]int64{}
		for _, rl := range v.RateLimits() {
			byName[rl.Name()] = rl.Limit
		}
		for i := range limits {
			if n, ok := byName[limits[i].Name]; ok && n > 0 {
				limits[i].Max = n
			}
		}
	}
	return v, limits, nil
}

// simAPIKey is the API key a simulated key uses: its api_key, or its ID.
func simAPIKey(id string, kc configs.Key) string {
	if kc.APIKey != "" {
		return kc.APIKey
	}
	return "sim-" + id
}

// simVenue is a simulator the App runs for a venue: Binance's (srv) or
// OKX's (okx).
type simVenue struct {
	srv         *binancesim.Server
	okx         *okxsim.Server
	url         string
	secrets     map[string][]byte // by key ID
	passphrases map[string][]byte // by key ID (okx)
}

// exchange is the simulator's matching engine.
func (s *simVenue) exchange() *paper.Exchange {
	if s.okx != nil {
		return s.okx.Exchange()
	}
	return s.srv.Exchange()
}

func (s *simVenue) close() error {
	if s.okx != nil {
		return s.okx.Close()
	}
	return s.srv.Close()
}

// simulator starts (once) the in-process Binance simulator of venue id,
// with an account per account of the venue's keys and a key per key.
func (a *App) simulator(venue string) (*simVenue, error) {
	if s := a.sims[venue]; s != nil {
		return s, nil
	}
	vc := a.Config.Venues[venue]
	scfg := binancesim.DefaultConfig()
	if vc.SimConfig != "" {
		var err error
		if scfg, err = binancesim.LoadConfig(vc.SimConfig); err != nil {
			return nil, fmt.Errorf("venues.%s.sim_config: %w", venue, err)
		}
	} else {
		scfg.MakerFee = configs.DefaultPaperFee
		scfg.TakerFee = scfg.MakerFee
		scfg.PriceTick = configs.DefaultPaperTick
		scfg.Seed = 1
	}
	if a.SimHook != nil {
		a.SimHook(venue, &scfg)
	}
	sv := &simVenue{secrets: map[string][]byte{}}
	accounts := map[string]*binancesim.AccountConfig{}
	var order []string
	for _, id := range a.Config.KeyIDs() {
		kc := a.Config.Keys[id]
		if kc.Venue != venue {
			continue
		}
		secret, err := a.Config.LoadSecret(id)
		if err != nil {
			buf := make([]byte, 32)
			if _, rerr := rand.Read(buf); rerr != nil {
				return nil, rerr
			}
			secret = []byte(hex.EncodeToString(buf))
		}
		sv.secrets[id] = secret
		acct := accounts[kc.Account]
		if acct == nil {
			acct = &binancesim.AccountConfig{ID: kc.Account}
			accounts[kc.Account] = acct
			order = append(order, kc.Account)
		}
		acct.Keys = append(acct.Keys, binancesim.KeyConfig{APIKey: simAPIKey(id, kc), Secret: string(secret)})
	}
	scfg.Accounts = nil
	for _, name := range order {
		scfg.Accounts = append(scfg.Accounts, *accounts[name])
	}
	srv, err := binancesim.New(scfg)
	if err != nil {
		return nil, fmt.Errorf("venues.%s: simulator: %w", venue, err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sv.srv, sv.url = srv, url
	a.sims[venue] = sv
	a.Logger.Info().Str("venue", venue).Str("url", url).Int("accounts", len(order)).Msg("Binance simulator started")
	return sv, nil
}
