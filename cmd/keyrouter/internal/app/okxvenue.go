package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/okx"
	"github.com/keyrouter/keyrouter/executors/okxsim"
)

// okxVenue connects key id to its OKX venue (starting the in-process
// simulator first if the venue simulates) and returns the venue and the
// key's budget limits, the preset's sub-account maximum taken from the
// venue's own account-rate-limit. The secret and the passphrase are
// loaded here, by the executor of this key only.
func (a *App) okxVenue(ctx context.Context, id string, kc configs.Key) (executors.Venue, []budget.Limit, error) {
	vc := a.Config.Venues[kc.Venue]
	cfg := okx.Config{
		BaseURL: vc.BaseURL, WSURL: vc.WSURL, APIKey: kc.APIKey, Demo: vc.Demo,
		ExpWindow: vc.RecvWindow, Timeout: vc.Timeout,
		Logger: a.Logger.With().Str("key", id).Str("venue", kc.Venue).Logger(),
	}
	if vc.Simulate {
		sim, err := a.okxSimulator(kc.Venue)
		if err != nil {
			return nil, nil, err
		}
		cfg.BaseURL = sim.url
		cfg.WSURL = "ws" + strings.TrimPrefix(sim.url, "http") + "/ws/v5/private"
		cfg.APIKey = simAPIKey(id, kc)
		cfg.Secret, cfg.Passphrase = sim.secrets[id], sim.passphrases[id]
	} else {
		secret, err := a.Config.LoadSecret(id)
		if err != nil {
			return nil, nil, err
		}
		pass, err := a.Config.LoadPassphrase(id)
		if err != nil {
			return nil, nil, err
		}
		cfg.Secret, cfg.Passphrase = secret, pass
	}
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

// OKXSimulator returns the OKX simulator of venue id, if the App runs one.
func (a *App) OKXSimulator(id string) *okxsim.Server {
	if s := a.sims[id]; s != nil {
		return s.okx
	}
	return nil
}

// okxSimulator starts (once) the in-process OKX simulator of venue id,
// with a sub-account per account of the venue's keys and a key per key.
// A sim_config file's accounts are replaced by the keys', except that an
// account of the file with a key's account ID keeps its balances and
// acc_rate_limit.
func (a *App) okxSimulator(venue string) (*simVenue, error) {
	if s := a.sims[venue]; s != nil {
		return s, nil
	}
	vc := a.Config.Venues[venue]
	scfg := okxsim.DefaultConfig()
	if vc.SimConfig != "" {
		var err error
		if scfg, err = okxsim.LoadConfig(vc.SimConfig); err != nil {
			return nil, fmt.Errorf("venues.%s.sim_config: %w", venue, err)
		}
	} else {
		scfg.MakerFee = configs.DefaultPaperFee
		scfg.TakerFee = scfg.MakerFee
		scfg.PriceTick = configs.DefaultPaperTick
		scfg.Seed = 1
	}
	fromFile := map[string]okxsim.AccountConfig{}
	for _, ac := range scfg.Accounts {
		fromFile[ac.ID] = ac
	}
	sv := &simVenue{secrets: map[string][]byte{}, passphrases: map[string][]byte{}}
	accounts := map[string]*okxsim.AccountConfig{}
	var order []string
	for _, id := range a.Config.KeyIDs() {
		kc := a.Config.Keys[id]
		if kc.Venue != venue {
			continue
		}
		secret, err := a.Config.LoadSecret(id)
		if err != nil {
			if secret, err = randomSecret(); err != nil {
				return nil, err
			}
		}
		pass, err := a.Config.LoadPassphrase(id)
		if err != nil {
			if pass, err = randomSecret(); err != nil {
				return nil, err
			}
		}
		sv.secrets[id], sv.passphrases[id] = secret, pass
		acct := accounts[kc.Account]
		if acct == nil {
			f := fromFile[kc.Account]
			// Balances nil (unlimited) unless the file gives some.
			acct = &okxsim.AccountConfig{ID: kc.Account, Balances: f.Balances, AccRateLimit: f.AccRateLimit, UID: f.UID}
			accounts[kc.Account] = acct
			order = append(order, kc.Account)
		}
		acct.Keys = append(acct.Keys, okxsim.KeyConfig{APIKey: simAPIKey(id, kc), Secret: string(secret), Passphrase: string(pass)})
	}
	scfg.Accounts = nil
	for _, name := range order {
		scfg.Accounts = append(scfg.Accounts, *accounts[name])
	}
	srv, err := okxsim.New(scfg)
	if err != nil {
		return nil, fmt.Errorf("venues.%s: simulator: %w", venue, err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	sv.okx, sv.url = srv, url
	a.sims[venue] = sv
	a.Logger.Info().Str("venue", venue).Str("url", url).Int("accounts", len(order)).Msg("OKX simulator started")
	return sv, nil
}

func randomSecret() ([]byte, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(buf)), nil
}
