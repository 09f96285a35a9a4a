package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binance"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/okx"
	"github.com/keyrouter/keyrouter/executors/paper"
)

// paperVenue connects key id to its paper venue, starting the venue's
// exchange first if no key did yet. The venue enforces the key's limits
// itself, as a real one would (account-scope ones shared through the
// account's group in groups).
func (a *App) paperVenue(ctx context.Context, id string, kc configs.Key, groups map[string]*paper.LimitGroup) (executors.Venue, error) {
	vc := a.Config.Venues[kc.Venue]
	x := a.exchanges[kc.Venue]
	if x == nil {
		var err error
		x, err = paper.NewExchange(paper.Config{Seed: vc.Seed, MakerFee: vc.MakerFee.Value(), TakerFee: vc.TakerFee.Value(), Clock: a.Clock.Now})
		if err != nil {
			return nil, fmt.Errorf("venues.%s: %w", kc.Venue, err)
		}
		a.exchanges[kc.Venue] = x
		a.add(ctx, "venue "+kc.Venue, func(ctx context.Context) error {
			err := x.Run(ctx, vc.Tick)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	g := groups[kc.Venue+"/"+kc.Account]
	if g == nil {
		g = paper.NewLimitGroup()
		groups[kc.Venue+"/"+kc.Account] = g
	}
	limits, err := paper.LimitsOf(kc.PaperLimits(), g)
	opts := paper.VenueOptions{Latency: vc.Latency, Limits: limits}
	if err == nil {
		err = opts.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("keys.%s.venue_limits: %w", id, err)
	}
	return paper.NewVenue(x, kc.Account, opts), nil
}

// binanceVenue connects key id to its Binance venue (starting the
// in-process simulator first if the venue simulates) and returns the venue
// and the key's budget limits, the preset's maxima taken from the venue's
// own exchangeInfo.
func (a *App) binanceVenue(ctx context.Context, id string, kc configs.Key) (executors.Venue, []budget.Limit, error) {
	acc, err := a.access(id, kc, a.simulator, false)
	if err != nil {
		return nil, nil, err
	}
	cfg := binanceConfig(a.Config.Venues[kc.Venue], kc, acc)
	cfg.Logger = a.Logger.With().Str("key", id).Str("venue", kc.Venue).Logger()
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

// binanceConfig is the Binance adapter's config of key kc of venue vc.
func binanceConfig(vc configs.Venue, kc configs.Key, acc keyAccess) binance.Config {
	cfg := binance.Config{BaseURL: acc.baseURL, WSURL: acc.wsURL, APIKey: acc.apiKey, Secret: acc.secret, KeyType: kc.KeyType,
		RecvWindow: vc.RecvWindow, UserStream: vc.UserStream, Timeout: vc.Timeout}
	if cfg.UserStream == "" {
		cfg.UserStream = binance.StreamWSAPI
	}
	if acc.simulated && cfg.UserStream == binance.StreamWSAPI {
		cfg.WSURL += "/ws-api/v3"
	}
	return cfg
}

// okxVenue connects key id to its OKX venue (starting the in-process
// simulator first if the venue simulates) and returns the venue and the
// key's budget limits, the preset's sub-account maximum taken from the
// venue's own account-rate-limit. The secret and the passphrase are
// loaded here, by the executor of this key only.
func (a *App) okxVenue(ctx context.Context, id string, kc configs.Key) (executors.Venue, []budget.Limit, error) {
	acc, err := a.access(id, kc, a.okxSimulator, true)
	if err != nil {
		return nil, nil, err
	}
	cfg := okxConfig(a.Config.Venues[kc.Venue], acc)
	cfg.Logger = a.Logger.With().Str("key", id).Str("venue", kc.Venue).Logger()
	sibling := a.okxSibling(id, kc)
	if sibling != nil {
		cfg.AccRateLimit, _ = sibling.AccountRateLimit()
	}
	v, err := okx.New(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: %w", id, err)
	}
	limits, err := kc.BudgetLimits()
	if err != nil {
		v.Close()
		return nil, nil, fmt.Errorf("keys.%s: %w", id, err)
	}
	if kc.Preset == "okx" {
		// The venue says what the sub-account's limit is; trust it over
		// the preset. The keys of one sub-account share the limit's
		// counter, so all take the value the first of them started with.
		n, _ := v.AccountRateLimit()
		if sibling != nil {
			n = cfg.AccRateLimit
		}
		if n > 0 {
			for i := range limits {
				if limits[i].Name == budget.OKXSubAccount {
					limits[i].Max = n
				}
			}
		}
	}
	return v, limits, nil
}

// okxConfig is the OKX adapter's config of a key of venue vc.
func okxConfig(vc configs.Venue, acc keyAccess) okx.Config {
	cfg := okx.Config{BaseURL: acc.baseURL, WSURL: acc.wsURL, APIKey: acc.apiKey, Secret: acc.secret, Passphrase: acc.passphrase,
		Demo: vc.Demo, ExpWindow: vc.RecvWindow, Timeout: vc.Timeout}
	if acc.simulated {
		cfg.WSURL += "/ws/v5/private"
	}
	return cfg
}

// okxSibling is the venue of a key of the same OKX sub-account this App
// started before key id, if any.
func (a *App) okxSibling(id string, kc configs.Key) *okx.Venue {
	for other, ov := range a.venues {
		ok := a.Config.Keys[other]
		if v, isOKX := ov.(*okx.Venue); isOKX && other != id && ok.Venue == kc.Venue && ok.Account == kc.Account {
			return v
		}
	}
	return nil
}

// simAPIKey is the API key a simulated key uses: its api_key, or its ID.
func simAPIKey(id string, kc configs.Key) string {
	if kc.APIKey != "" {
		return kc.APIKey
	}
	return "sim-" + id
}

// keyAccess is where a key's venue is and what the key signs with.
type keyAccess struct {
	// baseURL and wsURL are the venue config's, or the simulator's (then
	// wsURL is the root of its WebSocket endpoints).
	baseURL, wsURL string
	simulated      bool
	apiKey         string
	secret         []byte
	passphrase     []byte // okx
}

// access returns key id's access: its venue's simulator's, started by sim
// (once), when the venue simulates; else the venue's URLs and the key's
// secret (and passphrase, if withPassphrase), loaded here, by the
// executor of this key only.
func (a *App) access(id string, kc configs.Key, sim func(venue string) (*simVenue, error), withPassphrase bool) (keyAccess, error) {
	vc := a.Config.Venues[kc.Venue]
	if vc.Simulate {
		s, err := sim(kc.Venue)
		if err != nil {
			return keyAccess{}, err
		}
		return keyAccess{baseURL: s.url, wsURL: "ws" + strings.TrimPrefix(s.url, "http"), simulated: true,
			apiKey: simAPIKey(id, kc), secret: s.secrets[id], passphrase: s.passphrases[id]}, nil
	}
	acc := keyAccess{baseURL: vc.BaseURL, wsURL: vc.WSURL, apiKey: kc.APIKey}
	var err error
	if acc.secret, err = a.Config.LoadSecret(id); err != nil {
		return keyAccess{}, err
	}
	if withPassphrase {
		if acc.passphrase, err = a.Config.LoadPassphrase(id); err != nil {
			return keyAccess{}, err
		}
	}
	return acc, nil
}
