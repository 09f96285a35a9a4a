package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/executors/paper"
)

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
	scfg, err := simConfig(a.Config.Venues[venue], venue, binancesim.DefaultConfig, binancesim.LoadConfig, func(c *binancesim.Config) {
		c.MakerFee, c.TakerFee, c.PriceTick, c.Seed = configs.DefaultPaperFee, configs.DefaultPaperFee, configs.DefaultPaperTick, 1
	})
	if err != nil {
		return nil, err
	}
	if a.SimHook != nil {
		a.SimHook(venue, &scfg)
	}
	keys, err := a.simKeys(venue)
	if err != nil {
		return nil, err
	}
	sv := newSimVenue(keys)
	scfg.Accounts = nil
	for _, acct := range byAccount(keys) {
		ac := binancesim.AccountConfig{ID: acct[0].kc.Account}
		for _, k := range acct {
			ac.Keys = append(ac.Keys, binancesim.KeyConfig{APIKey: simAPIKey(k.id, k.kc), Secret: string(k.secret)})
		}
		scfg.Accounts = append(scfg.Accounts, ac)
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
	a.Logger.Info().Str("venue", venue).Str("url", url).Int("accounts", len(scfg.Accounts)).Msg("Binance simulator started")
	return sv, nil
}

// simConfig is the simulator config of venue (vc): the file its
// sim_config names, or the simulator's defaults with keyrouter's paper
// fees and tick (set by paper).
func simConfig[C any](vc configs.Venue, venue string, defaults func() C, load func(string) (C, error), paper func(*C)) (C, error) {
	if vc.SimConfig != "" {
		c, err := load(vc.SimConfig)
		if err != nil {
			return c, fmt.Errorf("venues.%s.sim_config: %w", venue, err)
		}
		return c, nil
	}
	c := defaults()
	paper(&c)
	return c, nil
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
	scfg, err := simConfig(a.Config.Venues[venue], venue, okxsim.DefaultConfig, okxsim.LoadConfig, func(c *okxsim.Config) {
		c.MakerFee, c.TakerFee, c.PriceTick, c.Seed = configs.DefaultPaperFee, configs.DefaultPaperFee, configs.DefaultPaperTick, 1
	})
	if err != nil {
		return nil, err
	}
	fromFile := map[string]okxsim.AccountConfig{}
	for _, ac := range scfg.Accounts {
		fromFile[ac.ID] = ac
	}
	keys, err := a.simKeys(venue)
	if err != nil {
		return nil, err
	}
	sv := newSimVenue(keys)
	scfg.Accounts = nil
	for _, acct := range byAccount(keys) {
		// Balances nil (unlimited) unless the file gives some.
		f := fromFile[acct[0].kc.Account]
		ac := okxsim.AccountConfig{ID: acct[0].kc.Account, Balances: f.Balances, AccRateLimit: f.AccRateLimit, UID: f.UID}
		for _, k := range acct {
			ac.Keys = append(ac.Keys, okxsim.KeyConfig{APIKey: simAPIKey(k.id, k.kc), Secret: string(k.secret), Passphrase: string(k.passphrase)})
		}
		scfg.Accounts = append(scfg.Accounts, ac)
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
	a.Logger.Info().Str("venue", venue).Str("url", url).Int("accounts", len(scfg.Accounts)).Msg("OKX simulator started")
	return sv, nil
}

// simKey is a key of a simulated venue with the secret and passphrase
// that its simulator and its executor share in process.
type simKey struct {
	id                 string
	kc                 configs.Key
	secret, passphrase []byte
}

// simKeys returns the keys of venue in ID order, each with the secret and
// passphrase its config names, or made up at random if it names none.
func (a *App) simKeys(venue string) ([]simKey, error) {
	var keys []simKey
	for _, id := range a.Config.KeyIDs() {
		kc := a.Config.Keys[id]
		if kc.Venue != venue {
			continue
		}
		k := simKey{id: id, kc: kc}
		var err error
		if k.secret, err = a.Config.LoadSecret(id); err != nil {
			if k.secret, err = randomSecret(); err != nil {
				return nil, err
			}
		}
		if k.passphrase, err = a.Config.LoadPassphrase(id); err != nil {
			if k.passphrase, err = randomSecret(); err != nil {
				return nil, err
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// byAccount groups keys by account, the accounts in the order of their
// first key.
func byAccount(keys []simKey) [][]simKey {
	at := map[string]int{}
	var out [][]simKey
	for _, k := range keys {
		i, ok := at[k.kc.Account]
		if !ok {
			i = len(out)
			at[k.kc.Account] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], k)
	}
	return out
}

func newSimVenue(keys []simKey) *simVenue {
	sv := &simVenue{secrets: map[string][]byte{}, passphrases: map[string][]byte{}}
	for _, k := range keys {
		sv.secrets[k.id], sv.passphrases[k.id] = k.secret, k.passphrase
	}
	return sv
}

func randomSecret() ([]byte, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(buf)), nil
}
