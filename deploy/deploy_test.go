// Package deploy holds the packaging (Dockerfile at the repository root,
// the systemd unit, the Kubernetes manifests) and the observability kit
// (Prometheus rules, Grafana dashboards); its tests check them against
// the config defaults and the exported metrics, and lint what can be
// linted without Docker or a cluster.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/testenv"
)

// manifests returns the Kubernetes objects in deploy/kubernetes, by kind.
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile("kubernetes/abuseguard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes/abuseguard.yaml: %v", err)
		}
		kind, _ := doc["kind"].(string)
		if kind == "" || doc["apiVersion"] == nil || get(doc, "metadata", "name") == nil {
			t.Fatalf("an object without kind, apiVersion or metadata.name: %v", doc)
		}
		if out[kind] != nil {
			t.Fatalf("two objects of kind %s", kind)
		}
		out[kind] = doc
	}
	return out
}

// get walks m along keys (map keys, or list indexes as ints).
func get(m any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[k]
		case int:
			l, ok := m.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			m = l[k]
		}
	}
	return m
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestKubernetesManifests checks the manifests against the config: the
// ConfigMap's config loads, its listeners are the container's ports and
// the defaults' ports, the probes hit /healthz and /readyz on the admin
// port, the Service and NetworkPolicy keep the admin port private, the
// config is mounted so reloads see ConfigMap updates, and the pod runs
// non-root on a read-only root filesystem.
func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if objs[kind] == nil {
			t.Fatalf("no %s", kind)
		}
	}
	text, _ := get(objs["ConfigMap"], "data", "config.yaml").(string)
	cfg, err := config.Parse("configmap:config.yaml", []byte(text))
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load: %v", err)
	}
	defaults, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	pod := get(objs["Deployment"], "spec", "template", "spec")
	c := get(pod, "containers", 0)
	ports := map[string]int{}
	for _, p := range get(c, "ports").([]any) {
		ports[get(p, "name").(string)] = get(p, "containerPort").(int)
	}
	for name, addrs := range map[string][2]string{"proxy": {cfg.Listen, defaults.Listen}, "admin": {cfg.AdminListen, defaults.AdminListen}} {
		if p := ports[name]; p == 0 || p != port(t, addrs[0]) || p != port(t, addrs[1]) {
			t.Errorf("container port %s = %d; the ConfigMap listens on %s, the defaults on %s", name, p, addrs[0], addrs[1])
		}
		if host, _, _ := net.SplitHostPort(addrs[0]); host != "0.0.0.0" && host != "" {
			t.Errorf("the ConfigMap's %s address %s is not reachable from the pod network", name, addrs[0])
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := get(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
		if got := get(c, probe, "httpGet", "port"); got != "admin" {
			t.Errorf("%s port = %v, want the admin port", probe, got)
		}
	}
	// --config names a file in a whole-directory ConfigMap mount (a
	// subPath mount is never updated, so reloads would not happen).
	args := get(c, "args").([]any)
	file := ""
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			file = args[i+1].(string)
		}
	}
	mounts := map[string]any{}
	for _, m := range get(c, "volumeMounts").([]any) {
		mounts[get(m, "mountPath").(string)] = m
	}
	cm := mounts[filepath.Dir(file)]
	if file == "" || cm == nil || get(cm, "subPath") != nil || get(cm, "readOnly") != true {
		t.Errorf("--config %q is not in a read-only, whole-directory mount: %v", file, mounts)
	}
	if st := mounts[filepath.Dir(cfg.Decisions.Path)]; st == nil || get(st, "readOnly") == true {
		t.Errorf("decisions.path %s is not on a writable volume: %v", cfg.Decisions.Path, mounts)
	}
	if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false ||
		get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("the pod is not non-root on a read-only root filesystem: %v %v", get(pod, "securityContext"), get(c, "securityContext"))
	}
	if grace, _ := get(pod, "terminationGracePeriodSeconds").(int); grace <= int(cfg.Server.ShutdownTimeout.Seconds()) {
		t.Errorf("terminationGracePeriodSeconds %d does not leave server.shutdown_timeout %v to drain", grace, cfg.Server.ShutdownTimeout)
	}
	for _, p := range get(objs["Service"], "spec", "ports").([]any) {
		if tp := get(p, "targetPort"); tp == "admin" || tp == ports["admin"] || get(p, "port") == ports["admin"] {
			t.Errorf("the Service exposes the admin port: %v", p)
		}
	}
	adminOpen := false
	for _, rule := range get(objs["NetworkPolicy"], "spec", "ingress").([]any) {
		for _, p := range get(rule, "ports").([]any) {
			if get(p, "port") == ports["admin"] && get(rule, "from") == nil {
				adminOpen = true
			}
		}
	}
	if adminOpen {
		t.Error("the NetworkPolicy opens the admin port to everyone")
	}
	labels := get(objs["Deployment"], "spec", "template", "metadata", "labels").(map[string]any)
	for _, kind := range []string{"PodDisruptionBudget", "NetworkPolicy"} {
		sel := get(objs[kind], "spec", "selector", "matchLabels")
		if kind == "NetworkPolicy" {
			sel = get(objs[kind], "spec", "podSelector", "matchLabels")
		}
		for k, v := range sel.(map[string]any) {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", kind, k, v)
			}
		}
	}
}

// TestDockerfile lints the Dockerfile: multi-stage, a static (CGO-free)
// build with the version stamped, a non-root final user, and the ports and
// command agreeing with the config defaults' ports.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var expose, cmd, build string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, line)
		case "USER":
			users = append(users, f[1])
		case "EXPOSE":
			expose = strings.Join(f[1:], " ")
		case "CMD":
			cmd = line
		case "RUN":
			build += line
		}
	}
	if len(froms) < 2 {
		t.Errorf("%d stages, want a multi-stage build", len(froms))
	}
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1], "root") || strings.HasPrefix(users[len(users)-1], "0") {
		t.Errorf("final USER %v is root or missing", users)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(string(data), "internal/cli.version=") {
		t.Error("the build is not static (CGO_ENABLED=0) or does not stamp the version")
	}
	for _, addr := range []string{defaults.Listen, defaults.AdminListen} {
		p := strconv.Itoa(port(t, addr))
		if !regexp.MustCompile(`\b`+p+`\b`).MatchString(expose) || !strings.Contains(cmd, "0.0.0.0:"+p) {
			t.Errorf("port %s of the defaults is not exposed (%q) or listened on in CMD (%q)", p, expose, cmd)
		}
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit (with ExecStart
// pointed at an executable that exists here) and requires no warning, and
// systemd-analyze security --offline to rate its sandbox at most 3.0
// ("OK"); the unit must keep DynamicUser, ProtectSystem=strict and
// NoNewPrivileges and run from its state directory.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("systemd/abuseguard.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"StateDirectory=abuseguard", "WorkingDirectory=/var/lib/abuseguard", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	analyze := testenv.LookPath(t, "systemd-analyze")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "abuseguard.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/abuseguard", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=30", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("exposure level %s", m[1])
	}
}
