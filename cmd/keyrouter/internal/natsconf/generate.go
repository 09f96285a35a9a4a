package natsconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/nats-io/nkeys"
)

// Files written under the output directory.
const (
	ServerConfFile   = "nats-server.conf"
	AccountsConfFile = "accounts.conf"
	NKeysDir         = "nkeys"
)

// Result says what Generate did.
type Result struct {
	Identities []Identity
	// Created lists identities given a new seed; Kept those whose seed
	// (or, with no seed, public key) was already there; Orphans the key
	// files of identities the config no longer has (left in place; they
	// can no longer connect).
	Created, Kept, Orphans []string
}

// Generate writes dir/nats-server.conf, dir/accounts.conf and, per
// identity, dir/nkeys/<identity>.nk (its seed, mode 600) and
// dir/nkeys/<identity>.pub. An identity that has a seed file keeps it, and
// one that has only a .pub file (its seed kept elsewhere) keeps that public
// key, so adding a strategy or a key rotates nobody else. Files are
// replaced atomically: a server reloading mid-run sees old or new, never
// half.
func Generate(cfg *configs.Config, dir string, o Options) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, err
	}
	kdir := filepath.Join(dir, NKeysDir)
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return Result{}, fmt.Errorf("natsconf: %w", err)
	}
	res := Result{Identities: Identities(cfg)}
	pubs := map[string]string{}
	rotate := map[string]bool{}
	for _, n := range o.Rotate {
		rotate[n] = true
	}
	known := map[string]bool{}
	for _, id := range res.Identities {
		known[id.Name] = true
	}
	for n := range rotate {
		if n != "all" && !known[n] {
			return Result{}, fmt.Errorf("natsconf: --rotate %s: no such identity", n)
		}
	}
	for _, id := range res.Identities {
		if rotate["all"] || rotate[id.Name] {
			for _, ext := range []string{".nk", ".pub"} {
				if err := os.Remove(filepath.Join(kdir, id.Name+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return Result{}, fmt.Errorf("natsconf: %w", err)
				}
			}
		}
		pub, created, err := ensureKey(kdir, id.Name)
		if err != nil {
			return Result{}, err
		}
		pubs[id.Name] = pub
		if created {
			res.Created = append(res.Created, id.Name)
		} else {
			res.Kept = append(res.Kept, id.Name)
		}
	}
	orphans, err := orphanKeys(kdir, pubs)
	if err != nil {
		return Result{}, err
	}
	res.Orphans = orphans
	server, accounts, err := Render(cfg, pubs, o)
	if err != nil {
		return Result{}, err
	}
	// Accounts first: the server config includes it.
	if err := writeAtomic(filepath.Join(dir, AccountsConfFile), accounts, 0o644); err != nil {
		return Result{}, err
	}
	if err := writeAtomic(filepath.Join(dir, ServerConfFile), server, 0o644); err != nil {
		return Result{}, err
	}
	return res, nil
}

// ensureKey returns the public key of identity name from kdir, making a
// new seed if it has neither a seed nor a public key.
func ensureKey(kdir, name string) (pub string, created bool, err error) {
	seedPath := filepath.Join(kdir, name+".nk")
	pubPath := filepath.Join(kdir, name+".pub")
	if data, err := os.ReadFile(seedPath); err == nil {
		kp, err := nkeys.ParseDecoratedNKey(data)
		if err != nil {
			return "", false, fmt.Errorf("natsconf: %s: %w", seedPath, err)
		}
		pub, err := kp.PublicKey()
		if err != nil || !nkeys.IsValidPublicUserKey(pub) {
			return "", false, fmt.Errorf("natsconf: %s: not a user nkey seed", seedPath)
		}
		if fi, err := os.Stat(seedPath); err == nil && fi.Mode().Perm()&0o007 != 0 {
			return "", false, fmt.Errorf("natsconf: %s is open to others (mode %v); chmod 600 it", seedPath, fi.Mode().Perm())
		}
		if old, _ := os.ReadFile(pubPath); strings.TrimSpace(string(old)) != pub {
			if err := writeAtomic(pubPath, []byte(pub+"\n"), 0o644); err != nil {
				return "", false, err
			}
		}
		return pub, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("natsconf: %w", err)
	}
	if data, err := os.ReadFile(pubPath); err == nil {
		pub := strings.TrimSpace(string(data))
		if !nkeys.IsValidPublicUserKey(pub) {
			return "", false, fmt.Errorf("natsconf: %s: not a user public nkey", pubPath)
		}
		return pub, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("natsconf: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", false, fmt.Errorf("natsconf: new nkey: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", false, err
	}
	pub, err = kp.PublicKey()
	if err != nil {
		return "", false, err
	}
	if err := writeAtomic(seedPath, append(seed, '\n'), 0o600); err != nil {
		return "", false, err
	}
	if err := writeAtomic(pubPath, []byte(pub+"\n"), 0o644); err != nil {
		return "", false, err
	}
	return pub, true, nil
}

func orphanKeys(kdir string, pubs map[string]string) ([]string, error) {
	entries, err := os.ReadDir(kdir)
	if err != nil {
		return nil, fmt.Errorf("natsconf: %w", err)
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".nk"), ".pub")
		if name == e.Name() || seen[name] {
			continue
		}
		seen[name] = true
		if _, ok := pubs[name]; !ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory, with mode perm.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return nil
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("natsconf: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("natsconf: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("natsconf: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("natsconf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("natsconf: %w", err)
	}
	return nil
}
