package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"go.yaml.in/yaml/v3"
)

const deployDir = "../../deploy"

// pendingFlags are flags the deploy files use that another branch adds
// (the HTTP endpoints: --http-listen on every role). The list checks
// itself: once a flag exists, the test fails until it is taken off.
var pendingFlags = map[string]string{}

// TestDeployExampleIsGenerated regenerates the committed NATS example with
// the command its header records and the committed public keys: the files
// must come out byte for byte.
func TestDeployExampleIsGenerated(t *testing.T) {
	committed := filepath.Join(deployDir, "nats")
	server := readText(t, filepath.Join(committed, natsconf.ServerConfFile))
	cmdLine := headerCommand(t, server)
	args := strings.Fields(cmdLine)
	if len(args) < 3 || strings.Join(args[:3], " ") != "keyrouter deploy nats-config" {
		t.Fatalf("header command %q", cmdLine)
	}
	args = args[1:]
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, natsconf.NKeysDir), 0o700); err != nil {
		t.Fatal(err)
	}
	pubs, _ := filepath.Glob(filepath.Join(committed, natsconf.NKeysDir, "*.pub"))
	if len(pubs) == 0 {
		t.Fatal("no public keys committed under deploy/nats/nkeys")
	}
	for _, p := range pubs {
		writeFile(t, filepath.Join(out, natsconf.NKeysDir, filepath.Base(p)), readText(t, p))
	}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--out":
			args[i+1] = out
		case "--config":
			args[i+1] = filepath.Join("../..", args[i+1])
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("%s: exit %d: %s", cmdLine, code, stderr.String())
	}
	if strings.Contains(stdout.String(), "new seed") {
		t.Fatalf("identities without a committed public key:\n%s", stdout.String())
	}
	for _, f := range []string{natsconf.ServerConfFile, natsconf.AccountsConfFile} {
		got := readText(t, filepath.Join(out, f))
		got = strings.Replace(got, "# command: "+headerCommand(t, got), "# command: "+cmdLine, 1)
		if want := readText(t, filepath.Join(committed, f)); got != want {
			t.Errorf("deploy/nats/%s is not what `%s` generates now: run it again and commit the result", f, cmdLine)
		}
	}
}

func headerCommand(t *testing.T, conf string) string {
	t.Helper()
	for _, l := range strings.Split(conf, "\n") {
		if c, ok := strings.CutPrefix(l, "# command: "); ok {
			return c
		}
	}
	t.Fatal("no '# command:' line in the header")
	return ""
}

// invocation is one keyrouter command line a deploy file runs.
type invocation struct {
	where string
	args  []string
	env   map[string]string
	// files maps a path inside the container to the file it is on the
	// repository's side ("" if it comes from elsewhere).
	files map[string]string
}

// TestDeployFilesRunRealCommands checks that every keyrouter command and
// flag in the compose file, the Kubernetes manifests and the systemd units
// exists in the binary, that each process gets the identity of its role and
// only its own key's secret, and that every keyrouter config they mount
// passes `keyrouter check`.
func TestDeployFilesRunRealCommands(t *testing.T) {
	cfg, err := configs.Load(filepath.Join(deployDir, "keyrouter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	invs := composeInvocations(t)
	invs = append(invs, kubernetesInvocations(t)...)
	invs = append(invs, systemdInvocations(t)...)
	seen := map[string]int{}
	flagsSeen := map[string]bool{}
	for _, inv := range invs {
		cmd, flags := splitInvocation(inv.args)
		seen[cmd]++
		known := commandFlags(t, cmd)
		for _, f := range flags {
			flagsSeen[f] = true
			if !known[f] && pendingFlags[f] == "" {
				t.Errorf("%s: keyrouter %s has no flag --%s", inv.where, cmd, f)
			}
		}
		for name := range inv.env {
			if strings.HasPrefix(name, "NATS_") && !knownEnv[name] {
				t.Errorf("%s: keyrouter reads no %s", inv.where, name)
			}
		}
		checkIdentity(t, cfg, inv, cmd)
		if c := flagValue(inv.args, "config"); c != "" {
			host, ok := inv.files[c]
			switch {
			case !ok:
				t.Errorf("%s: --config %s is not mounted", inv.where, c)
			case host == "":
			case cmd == "exchange-sim":
				if _, err := binancesim.LoadConfig(host); err != nil {
					t.Errorf("%s: %v", inv.where, err)
				}
			default:
				var o, e bytes.Buffer
				if code := run([]string{"check", "--config", host}, &o, &e); code != 0 {
					t.Errorf("%s: keyrouter check --config %s: %s", inv.where, host, e.String())
				}
			}
		}
	}
	for _, want := range []string{"router", "executor", "exchange-sim"} {
		if seen[want] == 0 {
			t.Errorf("no deploy file runs keyrouter %s", want)
		}
	}
	for f, why := range pendingFlags {
		if commandFlags(t, "router")[f] {
			t.Errorf("--%s exists now (%s): take it off pendingFlags", f, why)
		}
	}
	// Every key has its two executors in compose and its Deployment.
	for _, k := range cfg.KeyIDs() {
		n := 0
		for _, inv := range invs {
			if strings.HasPrefix(inv.where, "compose") && flagValue(inv.args, "key") == k {
				n++
			}
		}
		if n != 2 {
			t.Errorf("compose runs %d executors of %s, want 2", n, k)
		}
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Logf("no `docker compose` here (%v): the compose file's own syntax is not checked; its YAML and every command in it are", err)
	} else if out, err := exec.Command("docker", "compose", "-f", filepath.Join(deployDir, "compose.yaml"), "config", "-q").CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

var knownEnv = map[string]bool{"NATS_URL": true, "NATS_NKEY": true, "NATS_CREDS": true, "NATS_TLS_CA": true,
	"NATS_TLS_CERT": true, "NATS_TLS_KEY": true, "NATS_INBOX_PREFIX": true, "NATS_JS_API_PREFIX": true}

// checkIdentity: a role connects as its own identity, and an executor gets
// its own key's secret and no other.
func checkIdentity(t *testing.T, cfg *configs.Config, inv invocation, cmd string) {
	t.Helper()
	nkey := inv.env["NATS_NKEY"]
	if v := flagValue(inv.args, "nkey"); v != "" {
		nkey = v
	}
	want := ""
	switch cmd {
	case "router":
		want = "router"
	case "executor":
		want = "executor-" + flagValue(inv.args, "key")
	case "exchange-sim":
		if nkey != "" {
			t.Errorf("%s: the simulator gets an nkey", inv.where)
		}
	}
	if want != "" {
		if got := strings.TrimSuffix(filepath.Base(nkey), ".nk"); got != want {
			t.Errorf("%s: keyrouter %s connects with %q, want %s.nk", inv.where, cmd, nkey, want)
		}
		if _, err := os.Stat(filepath.Join(deployDir, "nats", natsconf.NKeysDir, want+".pub")); err != nil {
			t.Errorf("%s: identity %s is not in the generated example", inv.where, want)
		}
		if host := inv.files[nkey]; host != "" && filepath.Base(host) != want+".nk" {
			t.Errorf("%s: %s is mounted from %s", inv.where, nkey, host)
		}
	}
	for id, k := range cfg.Keys {
		_, has := inv.env[k.SecretEnv]
		if mine := cmd == "executor" && flagValue(inv.args, "key") == id; has != mine && cmd != "exchange-sim" {
			t.Errorf("%s: has %s's secret %s: %v", inv.where, id, k.SecretEnv, has)
		}
	}
}

func splitInvocation(args []string) (cmd string, flags []string) {
	if len(args) == 0 {
		return "", nil
	}
	cmd = args[0]
	rest := args[1:]
	if cmd == "deploy" && len(rest) > 0 {
		cmd, rest = "deploy "+rest[0], rest[1:]
	}
	for _, a := range rest {
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			flags = append(flags, name)
		}
	}
	return cmd, flags
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		n, v, hasV := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			if hasV {
				return v
			}
			if i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return ""
}

var flagLine = regexp.MustCompile(`^\s+-([A-Za-z0-9-]+)`)

// commandFlags runs `keyrouter <cmd> -h` and returns the flags it lists.
func commandFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	var o, e bytes.Buffer
	if code := run(append(strings.Fields(cmd), "-h"), &o, &e); code != 0 {
		t.Fatalf("keyrouter %s -h: exit %d (%s)", cmd, code, e.String())
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(io.MultiReader(&o, &e))
	for sc.Scan() {
		if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("keyrouter %s -h lists no flags", cmd)
	}
	return out
}

// ---- compose ----

func composeInvocations(t *testing.T) []invocation {
	t.Helper()
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	unmarshalFile(t, filepath.Join(deployDir, "compose.yaml"), &doc)
	var out []invocation
	names := make([]string, 0, len(doc.Services))
	for n := range doc.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := doc.Services[n]
		if !strings.HasPrefix(s.Image, "keyrouter:") {
			continue
		}
		inv := invocation{where: "compose service " + n, args: s.Command, env: s.Environment, files: map[string]string{}}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasPrefix(parts[0], ".") {
				host := filepath.Join(deployDir, parts[0])
				if _, err := os.Stat(host); err != nil && !strings.HasSuffix(host, ".nk") && !strings.Contains(host, "tls/out") {
					t.Errorf("%s mounts %s, which does not exist", inv.where, parts[0])
				}
				inv.files[parts[1]] = host
			}
		}
		out = append(out, inv)
	}
	if len(out) == 0 {
		t.Fatal("compose.yaml runs no keyrouter")
	}
	return out
}

// ---- Kubernetes ----

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Image string   `yaml:"image"`
					Args  []string `yaml:"args"`
					Env   []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					EnvFrom []struct {
						SecretRef *struct {
							Name string `yaml:"name"`
						} `yaml:"secretRef"`
					} `yaml:"envFrom"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						SubPath   string `yaml:"subPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
						Items      []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// kubernetesInvocations reads the manifests `kubectl apply -k deploy/`
// applies: rendered by kubectl where it is installed (client only, no
// cluster), else the files kustomization.yaml lists, with the config maps
// its generator makes.
func kubernetesInvocations(t *testing.T) []invocation {
	t.Helper()
	var kust struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	unmarshalFile(t, filepath.Join(deployDir, "kustomization.yaml"), &kust)
	// Config map name (without kustomize's hash) -> file name -> repository file.
	maps := map[string]map[string]string{}
	for _, g := range kust.ConfigMapGenerator {
		maps[g.Name] = map[string]string{}
		for _, f := range g.Files {
			maps[g.Name][filepath.Base(f)] = filepath.Join(deployDir, f)
		}
	}
	var objs []k8sObject
	if _, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command("kubectl", "kustomize", deployDir).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("kubectl kustomize deploy: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		objs = decodeAll(t, "kubectl kustomize", out)
	} else {
		t.Log("no kubectl: reading the manifests without kustomize")
		for _, r := range kust.Resources {
			objs = append(objs, decodeAll(t, r, []byte(readText(t, filepath.Join(deployDir, r))))...)
		}
	}
	var out []invocation
	deployments := 0
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		deployments++
		for _, c := range o.Spec.Template.Spec.Containers {
			if !strings.HasPrefix(c.Image, "keyrouter:") {
				continue
			}
			inv := invocation{where: "Kubernetes Deployment " + o.Metadata.Name, args: c.Args, env: map[string]string{}, files: map[string]string{}}
			for _, e := range c.Env {
				inv.env[e.Name] = e.Value
				if e.Value == "" {
					inv.env[e.Name] = "from a secret"
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name == "keyrouter-venue-secrets" {
					for _, k := range []string{"ALPHA_1_SECRET", "ALPHA_2_SECRET", "BETA_1_SECRET", "BETA_2_SECRET"} {
						inv.env[k] = "from secret"
					}
				}
			}
			for _, m := range c.VolumeMounts {
				for _, v := range o.Spec.Template.Spec.Volumes {
					if v.Name != m.Name {
						continue
					}
					switch {
					case v.ConfigMap != nil:
						files := maps[trimHash(v.ConfigMap.Name, maps)]
						if files == nil {
							t.Errorf("%s mounts config map %s, which kustomization.yaml does not make", inv.where, v.ConfigMap.Name)
						}
						for name, host := range files {
							if m.SubPath == "" {
								inv.files[m.MountPath+"/"+name] = host
							} else if m.SubPath == name {
								inv.files[m.MountPath] = host
							}
						}
					case v.Secret != nil:
						for _, it := range v.Secret.Items {
							inv.files[m.MountPath+"/"+it.Path] = ""
							if it.Path != it.Key {
								t.Errorf("%s: secret item %s mounted as %s (keyrouter takes the identity from the file name)", inv.where, it.Key, it.Path)
							}
						}
					}
				}
			}
			if n := inv.env["NATS_NKEY"]; n != "" {
				if _, ok := inv.files[n]; !ok {
					t.Errorf("%s: NATS_NKEY %s is not mounted", inv.where, n)
				}
			}
			out = append(out, inv)
		}
	}
	keys := 0
	for _, inv := range out {
		if inv.args[0] == "executor" {
			keys++
		}
	}
	if keys != 4 || deployments == 0 {
		t.Errorf("%d executor Deployments, want one per key (4)", keys)
	}
	return out
}

// trimHash maps a generated config map name (name-<hash>) to its generator.
func trimHash(name string, maps map[string]map[string]string) string {
	if _, ok := maps[name]; ok {
		return name
	}
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

func decodeAll(t *testing.T, where string, data []byte) []k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		out = append(out, o)
	}
}

// ---- systemd ----

func systemdInvocations(t *testing.T) []invocation {
	t.Helper()
	units, _ := filepath.Glob(filepath.Join(deployDir, "systemd", "keyrouter-*.service"))
	var out []invocation
	for _, u := range units {
		env := map[string]string{}
		var args []string
		for _, l := range strings.Split(readText(t, u), "\n") {
			if v, ok := strings.CutPrefix(l, "Environment="); ok {
				n, val, _ := strings.Cut(v, "=")
				env[n] = val
			}
			if v, ok := strings.CutPrefix(l, "ExecStart=/usr/local/bin/keyrouter "); ok {
				args = strings.Fields(v)
			}
		}
		if args == nil {
			t.Errorf("%s starts no keyrouter", u)
			continue
		}
		// A template unit's instance is the key.
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "%i", "alpha-1")
		}
		for n, v := range env {
			env[n] = strings.ReplaceAll(v, "%i", "alpha-1")
		}
		if slices.Contains(args, "executor") {
			env["ALPHA_1_SECRET"] = "from executor-%i.env"
		}
		for _, l := range strings.Split(readText(t, filepath.Join(deployDir, "systemd", "keyrouter.env")), "\n") {
			if n, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
				env[n] = v
			}
		}
		out = append(out, invocation{where: "systemd " + filepath.Base(u), args: args, env: env,
			files: map[string]string{"/etc/keyrouter/keyrouter.yaml": filepath.Join(deployDir, "keyrouter.yaml")}})
	}
	if len(out) < 2 {
		t.Errorf("%d keyrouter systemd units, want the router's and the executors'", len(out))
	}
	return out
}

func unmarshalFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readText(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
