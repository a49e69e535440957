package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/settings"
)

// The deployment examples in docs/deploy are checked against the real `herald
// serve`: a renamed flag, a probe on the wrong port or a grace period shorter than
// the drain fails here rather than in someone's cluster.

const deployDir = "../../docs/deploy"

// k8sObject is the part of a Kubernetes object that these tests read; spec is
// decoded by kind.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node         `yaml:"spec"`
	Data map[string]string `yaml:"data"`

	file string // relative to docs/deploy/kubernetes
	doc  int    // 1-based position in the file
}

func (o *k8sObject) String() string {
	return fmt.Sprintf("%s (document %d): %s %s", o.file, o.doc, o.Kind, o.Metadata.Name)
}

type k8sDeploymentSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec k8sPodSpec `yaml:"spec"`
	} `yaml:"template"`
}

type k8sPodSpec struct {
	TerminationGracePeriodSeconds *int           `yaml:"terminationGracePeriodSeconds"`
	Containers                    []k8sContainer `yaml:"containers"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []k8sEnv `yaml:"env"`
	EnvFrom []any    `yaml:"envFrom"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
			Exec *struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
}

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef    *k8sKeyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *k8sKeyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sKeyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional bool   `yaml:"optional"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port k8sIntOrStr `yaml:"port"`
	} `yaml:"httpGet"`
}

// k8sIntOrStr is a port given by number or by name.
type k8sIntOrStr string

func (v *k8sIntOrStr) UnmarshalYAML(n *yaml.Node) error {
	*v = k8sIntOrStr(n.Value)
	return nil
}

type k8sServiceSpec struct {
	Type      string            `yaml:"type"`
	ClusterIP string            `yaml:"clusterIP"`
	Selector  map[string]string `yaml:"selector"`
	Ports     []struct {
		Name       string      `yaml:"name"`
		Port       int         `yaml:"port"`
		TargetPort k8sIntOrStr `yaml:"targetPort"`
	} `yaml:"ports"`
}

type k8sHPASpec struct {
	ScaleTargetRef struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Name       string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	MinReplicas int `yaml:"minReplicas"`
	MaxReplicas int `yaml:"maxReplicas"`
	Metrics     []struct {
		Type string `yaml:"type"`
		Pods *struct {
			Metric struct {
				Name string `yaml:"name"`
			} `yaml:"metric"`
			Target struct {
				Type         string `yaml:"type"`
				AverageValue string `yaml:"averageValue"`
			} `yaml:"target"`
		} `yaml:"pods"`
	} `yaml:"metrics"`
}

type k8sPDBSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

// mustK8sObjects reads every YAML document under docs/deploy/kubernetes.
func mustK8sObjects(tb testing.TB) []*k8sObject {
	tb.Helper()
	root := filepath.Join(deployDir, "kubernetes")
	var objs []*k8sObject
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, path)
		dec := yaml.NewDecoder(f)
		for i := 1; ; i++ {
			o := &k8sObject{file: filepath.ToSlash(rel), doc: i}
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s, document %d: %w", rel, i, err)
			}
			objs = append(objs, o)
		}
	})
	if err != nil {
		tb.Fatalf("reading the manifests: %v", err)
	}
	if len(objs) == 0 {
		tb.Fatalf("no manifests under %s", root)
	}
	return objs
}

// decodeSpec decodes o's spec into v.
func decodeSpec(tb testing.TB, o *k8sObject, v any) {
	tb.Helper()
	if err := o.Spec.Decode(v); err != nil {
		tb.Fatalf("%v: spec: %v", o, err)
	}
}

// selects reports whether every label of the selector is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// heraldContainer is a container that runs `herald serve`, with its settings
// resolved as Kubernetes and herald would resolve them.
type heraldContainer struct {
	obj  *k8sObject
	pod  *k8sDeploymentSpec
	c    *k8sContainer
	args []string          // after "serve", with $(VAR) expanded
	flag map[string]string // --name=value from args
	envs []string          // names of the HERALD_* variables
	env  map[string]string // HERALD_* variables with the values a test can know
}

func (h *heraldContainer) String() string {
	return fmt.Sprintf("%s: %s/%s", h.obj.file, h.obj.Metadata.Name, h.c.Name)
}

// setting is the value of a serve flag as the process would see it: from the
// command line, else the environment, else the flag's default in fset.
func (h *heraldContainer) setting(fset *flag.FlagSet, name string) (string, bool) {
	if v, ok := h.flag[name]; ok {
		return v, true
	}
	if v, ok := h.env[settings.EnvName(name)]; ok {
		return v, true
	}
	if f := fset.Lookup(name); f != nil {
		return f.DefValue, true
	}
	return "", false
}

func (h *heraldContainer) hasRole(fset *flag.FlagSet, role string) bool {
	roles, _ := h.setting(fset, "roles")
	return slices.Contains(strings.Split(roles, ","), role)
}

// duration is a duration setting; missing means the flag does not exist.
func (h *heraldContainer) duration(tb testing.TB, fset *flag.FlagSet, name string) time.Duration {
	tb.Helper()
	v, ok := h.setting(fset, name)
	if !ok {
		tb.Errorf("%v: needs --%s, which herald serve does not have", h, name)
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		tb.Errorf("%v: --%s=%q: %v", h, name, v, err)
	}
	return d
}

// port returns the container port named or numbered p, 0 if there is none.
func (h *heraldContainer) port(p k8sIntOrStr) int {
	for _, cp := range h.c.Ports {
		if cp.Name == string(p) || strconv.Itoa(cp.ContainerPort) == string(p) {
			return cp.ContainerPort
		}
	}
	return 0
}

// preStopSeconds is how long the container's preStop hook waits.
func (h *heraldContainer) preStopSeconds() int {
	ps := h.c.Lifecycle.PreStop
	switch {
	case ps == nil:
		return 0
	case ps.Sleep != nil:
		return ps.Sleep.Seconds
	case ps.Exec != nil && len(ps.Exec.Command) == 2 && filepath.Base(ps.Exec.Command[0]) == "sleep":
		n, _ := strconv.Atoi(ps.Exec.Command[1])
		return n
	}
	return 0
}

// serveFlags builds the flag set of `herald serve` as runServe does.
func serveFlags() (*settings.Server, *flag.FlagSet) {
	var c settings.Server
	fset := settings.NewFlags("serve", io.Discard)
	c.Flags(fset, false)
	return &c, fset
}

// Sample values of the downward API fields the manifests use.
var sampleFields = map[string]string{
	"metadata.name":      "herald-edge-6d4b9c7f8-x2x8q",
	"metadata.namespace": "herald",
	"status.podIP":       "10.1.2.3",
}

// sampleSecret stands in for a value of the Secret, which is not in the
// manifests: long enough for a token secret and a cluster key, name:secret for the
// API keys.
const sampleSecret = "sample:0123456789abcdef0123456789abcdef0123"

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// heraldContainers finds the containers that run herald and resolves their
// settings. It returns the problems it found in the manifests too, for
// TestDeployManifests to report once.
func heraldContainers(tb testing.TB, objs []*k8sObject) ([]*heraldContainer, []string) {
	tb.Helper()
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	configMaps := map[string]map[string]string{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	var out []*heraldContainer
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		pod := new(k8sDeploymentSpec)
		decodeSpec(tb, o, pod)
		for i := range pod.Template.Spec.Containers {
			c := &pod.Template.Spec.Containers[i]
			if !isHeraldImage(c.Image) {
				continue
			}
			h := &heraldContainer{obj: o, pod: pod, c: c, flag: map[string]string{}, env: map[string]string{}}
			out = append(out, h)
			if len(c.Command) > 0 && filepath.Base(c.Command[0]) != "herald" {
				problem("%v: command %q does not run herald", h, c.Command)
			}
			if len(c.EnvFrom) > 0 {
				problem("%v: envFrom hides which settings a container gets; name each HERALD_* variable", h)
			}
			vars := map[string]string{}
			for _, e := range c.Env {
				v, known := e.Value, true
				switch vf := e.ValueFrom; {
				case vf == nil:
				case vf.FieldRef != nil:
					v, known = sampleFields[vf.FieldRef.FieldPath], sampleFields[vf.FieldRef.FieldPath] != ""
				case vf.ConfigMapKeyRef != nil:
					data, ok := configMaps[vf.ConfigMapKeyRef.Name]
					v, known = data[vf.ConfigMapKeyRef.Key]
					if !ok || !known {
						problem("%v: %s refers to key %s of ConfigMap %q, which the manifests do not have", h, e.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name)
					}
				case vf.SecretKeyRef != nil:
					// An optional key may be missing, and then the variable is not set.
					v, known = sampleSecret, !vf.SecretKeyRef.Optional
				default:
					known = false
				}
				if known {
					vars[e.Name] = v
				}
				if strings.HasPrefix(e.Name, "HERALD_") {
					h.envs = append(h.envs, e.Name)
					if known {
						h.env[e.Name] = v
					}
				}
			}
			if len(c.Args) == 0 || c.Args[0] != "serve" {
				problem("%v: args must start with serve, got %q", h, c.Args)
				continue
			}
			for _, a := range c.Args[1:] {
				a = varRef.ReplaceAllStringFunc(a, func(ref string) string {
					name := varRef.FindStringSubmatch(ref)[1]
					v, ok := vars[name]
					if !ok {
						problem("%v: %s refers to $(%s), which the container's env does not define", h, a, name)
					}
					return v
				})
				h.args = append(h.args, a)
				name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				if !strings.HasPrefix(a, "--") || !ok {
					problem("%v: argument %q: write every flag as --name=value", h, a)
					continue
				}
				if _, dup := h.flag[name]; dup {
					problem("%v: --%s is given twice", h, name)
				}
				h.flag[name] = value
			}
		}
	}
	return out, problems
}

// isHeraldImage reports whether image is a build of docs/deploy/Dockerfile:
// its repository's last path element is herald.
func isHeraldImage(image string) bool {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image == "herald" || strings.HasSuffix(image, "/herald")
}

func TestDeployManifests(t *testing.T) {
	objs := mustK8sObjects(t)
	for _, o := range objs {
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%v: every object needs apiVersion, kind and metadata.name", o)
		}
		if o.Metadata.Namespace != "" {
			t.Errorf("%v: sets namespace %q; the examples are applied to the namespace of the reader's choice", o, o.Metadata.Namespace)
		}
	}
	hs, problems := heraldContainers(t, objs)
	for _, p := range problems {
		t.Error(p)
	}
	if len(hs) == 0 {
		t.Fatal("no Deployment runs the herald image")
	}
	_, fset := serveFlags()
	for _, role := range []string{"edge", "api", "processor"} {
		if !slices.ContainsFunc(hs, func(h *heraldContainer) bool { return h.hasRole(fset, role) }) {
			t.Errorf("no Deployment runs the %s role", role)
		}
	}
	for _, o := range objs {
		if o.Kind != "ConfigMap" {
			continue
		}
		for k := range o.Data {
			if strings.HasPrefix(k, "HERALD_") && envFlag(fset, k) == "" {
				t.Errorf("%v: key %s is no variable of herald serve", o, k)
			}
		}
	}
	for _, h := range hs {
		t.Run("settings/"+h.obj.Metadata.Name+"/"+h.c.Name, func(t *testing.T) { checkServeSettings(t, h) })
	}
}

// envFlag returns the flag whose variable is env, "" if there is none.
func envFlag(fset *flag.FlagSet, env string) string {
	var name string
	fset.VisitAll(func(f *flag.Flag) {
		if settings.EnvName(f.Name) == env {
			name = f.Name
		}
	})
	return name
}

// checkServeSettings checks that every flag and HERALD_* variable of h is one of
// herald serve, then starts herald's own parsing and validation on them.
func checkServeSettings(t *testing.T, h *heraldContainer) {
	c, fset := serveFlags()
	var missing []string
	for _, a := range h.args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if fset.Lookup(name) == nil {
			missing = append(missing, "--"+name)
		}
	}
	for _, env := range h.envs {
		name := envFlag(fset, env)
		if name == "" {
			missing = append(missing, env)
		} else if _, ok := h.flag[name]; ok {
			t.Errorf("%v: --%s is set both as a flag and as %s; the flag wins, so one of them is dead", h, name, env)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%v: herald serve has no flag or variable %s", h, strings.Join(missing, ", "))
	}
	// The values: herald's own parse (flags, then HERALD_* variables) and
	// validation, with the Secret's values replaced by samples.
	for env, v := range h.env {
		t.Setenv(env, v)
	}
	if err := settings.Parse(fset, h.args); err != nil {
		t.Fatalf("%v: herald serve would refuse its settings: %v", h, err)
	}
	if err := settings.RequireArgs(fset, 0, 0); err != nil {
		t.Fatalf("%v: %v", h, err)
	}
	if err := c.Validate(false); err != nil {
		t.Fatalf("%v: herald serve would refuse its settings: %v", h, err)
	}
}

// TestDeployLifecycle checks what lets every herald pod stop cleanly and be
// watched: probes on the admin listener, listeners on the pod's interfaces, and a
// termination grace period that covers preStop, the drain and the shutdown.
func TestDeployLifecycle(t *testing.T) {
	hs, _ := heraldContainers(t, mustK8sObjects(t))
	_, fset := serveFlags()
	edges := 0
	for _, h := range hs {
		t.Run(h.obj.Metadata.Name+"/"+h.c.Name, func(t *testing.T) {
			edge := h.hasRole(fset, "edge")
			if edge {
				edges++
			}
			// Probes: /readyz and /healthz on the admin listener, which must listen
			// on the pod's IP, not on the loopback default.
			admin, _ := h.setting(fset, "admin-addr")
			host, port, err := net.SplitHostPort(admin)
			if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
				t.Errorf("%v: --admin-addr=%q: the kubelet probes and Prometheus reach the pod's IP, so bind every interface (:%s)", h, admin, port)
			}
			for _, p := range []struct {
				kind, path string
				probe      *k8sProbe
			}{{"readinessProbe", "/readyz", h.c.ReadinessProbe}, {"livenessProbe", "/healthz", h.c.LivenessProbe}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%v: needs an httpGet %s on %s", h, p.kind, p.path)
					continue
				}
				if p.probe.HTTPGet.Path != p.path {
					t.Errorf("%v: %s path %q, want %s", h, p.kind, p.probe.HTTPGet.Path, p.path)
				}
				if got := h.port(p.probe.HTTPGet.Port); got == 0 || strconv.Itoa(got) != port {
					t.Errorf("%v: %s port %q is container port %d, but --admin-addr is %q", h, p.kind, p.probe.HTTPGet.Port, got, admin)
				}
			}
			checkPorts(t, fset, h)

			tgp := 30 // Kubernetes' default
			if s := h.pod.Template.Spec.TerminationGracePeriodSeconds; s != nil {
				tgp = *s
			}
			preStop := time.Duration(h.preStopSeconds()) * time.Second
			shutdown := h.duration(t, fset, "shutdown-grace")
			need := preStop + shutdown
			what := fmt.Sprintf("preStop %v + --shutdown-grace %v", preStop, shutdown)
			if edge {
				if _, ok := h.flag["drain-window"]; !ok {
					t.Errorf("%v: set --drain-window explicitly: terminationGracePeriodSeconds is sized from it", h)
				}
				drain := h.duration(t, fset, "drain-window")
				need += drain
				what += fmt.Sprintf(" + --drain-window %v", drain)
				if preStop <= 0 {
					t.Errorf("%v: an edge needs a preStop hook that waits for its endpoints to be removed before SIGTERM starts the drain", h)
				}
				// The drain waits --reconnect-grace after its last reconnect, within
				// the shutdown grace that bounds it with the window; the rest of the
				// shutdown needs some of that grace too.
				if rg := h.duration(t, fset, "reconnect-grace"); rg >= shutdown {
					t.Errorf("%v: --reconnect-grace %v must be shorter than --shutdown-grace %v: the drain would be cut before the devices it asked to reconnect may close", h, rg, shutdown)
				}
			}
			if time.Duration(tgp)*time.Second <= need {
				t.Errorf("%v: terminationGracePeriodSeconds %d must exceed %s = %v, or the kubelet kills herald mid-shutdown", h, tgp, what, need)
			}
		})
	}
	if edges == 0 {
		t.Error("no edge Deployment")
	}
}

// checkPorts checks that the listeners h configures are its declared container
// ports, and that an edge advertises its pod IP for links.
func checkPorts(t *testing.T, fset *flag.FlagSet, h *heraldContainer) {
	t.Helper()
	want := map[string]string{"admin-addr": "admin"}
	if h.hasRole(fset, "edge") || h.hasRole(fset, "api") {
		want["addr"] = "http"
	}
	if h.hasRole(fset, "edge") {
		want["internal-addr"] = "links"
		want["advertise-addr"] = "links"
		adv, _ := h.setting(fset, "advertise-addr")
		if host, _, _ := net.SplitHostPort(adv); host != sampleFields["status.podIP"] {
			t.Errorf("%v: --advertise-addr=%q: advertise the pod IP, --advertise-addr=$(POD_IP):PORT with POD_IP from status.podIP", h, adv)
		}
	}
	for flagName, portName := range want {
		v, _ := h.setting(fset, flagName)
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			t.Errorf("%v: --%s=%q: %v", h, flagName, v, err)
			continue
		}
		if got := h.port(k8sIntOrStr(portName)); strconv.Itoa(got) != port {
			t.Errorf("%v: --%s=%q, but the container port named %s is %d", h, flagName, v, portName, got)
		}
	}
}

// TestDeployServices checks that each Service selects a herald Deployment and
// targets ports it declares, that the devices' load balancer reaches the edges'
// public listener only, and that edge links have an internal, headless Service.
func TestDeployServices(t *testing.T) {
	objs := mustK8sObjects(t)
	hs, _ := heraldContainers(t, objs)
	_, fset := serveFlags()
	var lbToEdges, headlessLinks bool
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		var svc k8sServiceSpec
		decodeSpec(t, o, &svc)
		var sel []*heraldContainer
		for _, h := range hs {
			if selects(svc.Selector, h.pod.Template.Metadata.Labels) {
				sel = append(sel, h)
			}
		}
		if len(sel) == 0 {
			t.Errorf("%v: selector %v matches no herald Deployment", o, svc.Selector)
			continue
		}
		public := svc.Type == "LoadBalancer" || svc.Type == "NodePort"
		for _, p := range svc.Ports {
			for _, h := range sel {
				target := h.port(p.TargetPort)
				if target == 0 {
					t.Errorf("%v: port %s targets %q, which %v does not declare", o, p.Name, p.TargetPort, h)
					continue
				}
				tp := strconv.Itoa(target)
				internal, admin := h.listenPort(fset, "internal-addr"), h.listenPort(fset, "admin-addr")
				if public && (tp == internal || tp == admin) {
					t.Errorf("%v: a %s Service exposes port %d, an internal listener of %v", o, svc.Type, target, h)
				}
				if h.hasRole(fset, "edge") {
					if public && tp == h.listenPort(fset, "addr") {
						lbToEdges = true
					}
					if svc.ClusterIP == "None" && !public && tp == internal {
						headlessLinks = true
					}
				}
			}
		}
	}
	if !lbToEdges {
		t.Error("no LoadBalancer Service reaches the edges' public listener (--addr)")
	}
	if !headlessLinks {
		t.Error("no headless (clusterIP: None) Service names the edges' link port (--internal-addr)")
	}
}

// listenPort returns the port of the address setting name, "" if it has none.
func (h *heraldContainer) listenPort(fset *flag.FlagSet, name string) string {
	v, _ := h.setting(fset, name)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return ""
	}
	return port
}

// TestDeployAutoscaling checks the edge HPA: it scales the edge Deployment on the
// open-connections metric that herald exports, through a prometheus-adapter rule
// that publishes it; and a PodDisruptionBudget covers the edges.
func TestDeployAutoscaling(t *testing.T) {
	objs := mustK8sObjects(t)
	hs, _ := heraldContainers(t, objs)
	_, fset := serveFlags()
	edges := map[string]*heraldContainer{}
	for _, h := range hs {
		if h.hasRole(fset, "edge") {
			edges[h.obj.Metadata.Name] = h
		}
	}
	const metric = "herald_edge_connections"
	var hpas, pdbs int
	for _, o := range objs {
		switch o.Kind {
		case "HorizontalPodAutoscaler":
			hpas++
			if o.APIVersion != "autoscaling/v2" {
				t.Errorf("%v: apiVersion %s, want autoscaling/v2", o, o.APIVersion)
			}
			var hpa k8sHPASpec
			decodeSpec(t, o, &hpa)
			ref := hpa.ScaleTargetRef
			if ref.Kind != "Deployment" || edges[ref.Name] == nil {
				t.Errorf("%v: scales %s %q, want the edge Deployment", o, ref.Kind, ref.Name)
			}
			if hpa.MinReplicas < 2 || hpa.MaxReplicas < hpa.MinReplicas {
				t.Errorf("%v: replicas %d to %d: keep at least 2 edges, so that a drain has somewhere to send devices", o, hpa.MinReplicas, hpa.MaxReplicas)
			}
			if len(hpa.Metrics) != 1 || hpa.Metrics[0].Type != "Pods" || hpa.Metrics[0].Pods == nil ||
				hpa.Metrics[0].Pods.Metric.Name != metric || hpa.Metrics[0].Pods.Target.Type != "AverageValue" {
				t.Errorf("%v: want exactly one metric, type Pods, %s with an AverageValue target", o, metric)
			} else if n, err := strconv.Atoi(hpa.Metrics[0].Pods.Target.AverageValue); err != nil || n <= 0 {
				t.Errorf("%v: averageValue %q: want a number of connections per edge", o, hpa.Metrics[0].Pods.Target.AverageValue)
			} else if h := edges[ref.Name]; h != nil {
				if max, _ := strconv.Atoi(h.flag["max-connections"]); max > 0 && max <= n {
					t.Errorf("%v: target %d connections per edge, but --max-connections=%d leaves no room to scale", o, n, max)
				}
			}
		case "PodDisruptionBudget":
			var pdb k8sPDBSpec
			decodeSpec(t, o, &pdb)
			for _, h := range edges {
				if selects(pdb.Selector.MatchLabels, h.pod.Template.Metadata.Labels) {
					pdbs++
				}
			}
		}
	}
	if hpas != 1 {
		t.Errorf("want one HorizontalPodAutoscaler, found %d", hpas)
	}
	if pdbs == 0 {
		t.Error("no PodDisruptionBudget selects the edges")
	}
	if !metricInCode(t, metric) {
		t.Errorf("no Go file of the repository defines the metric %q that the HPA scales on", metric)
	}

	// The prometheus-adapter rule that publishes the metric for the HPA.
	data, err := os.ReadFile(filepath.Join(deployDir, "prometheus-adapter-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Rules struct {
			Custom []struct {
				SeriesQuery string `yaml:"seriesQuery"`
				Resources   struct {
					Overrides map[string]struct {
						Resource string `yaml:"resource"`
					} `yaml:"overrides"`
				} `yaml:"resources"`
				Name struct {
					Matches string `yaml:"matches"`
					As      string `yaml:"as"`
				} `yaml:"name"`
				MetricsQuery string `yaml:"metricsQuery"`
			} `yaml:"custom"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("prometheus-adapter-values.yaml: %v", err)
	}
	found := false
	for _, r := range values.Rules.Custom {
		if !strings.Contains(r.SeriesQuery, metric) || r.Name.As != metric || r.MetricsQuery == "" {
			continue
		}
		res := map[string]bool{}
		for _, o := range r.Resources.Overrides {
			res[o.Resource] = true
		}
		if !res["pod"] || !res["namespace"] {
			t.Errorf("prometheus-adapter rule for %s: map the namespace and pod labels to their resources, got %v", metric, r.Resources.Overrides)
		}
		found = true
	}
	if !found {
		t.Errorf("prometheus-adapter-values.yaml: no rules.custom entry publishes %s", metric)
	}
}

// metricInCode reports whether a non-test Go file of the repository names the
// metric as a string literal.
func metricInCode(tb testing.TB, metric string) bool {
	tb.Helper()
	found := false
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "docs") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		found = err == nil && strings.Contains(string(b), `"`+metric+`"`)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}

// TestDeployDockerfile checks the Dockerfile without Docker: a multi-stage build of
// a static ./cmd/herald, a final stage that runs herald as a non-root user, the
// three listeners exposed, and only real HERALD_* variables set.
func TestDeployDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, with continuation lines joined and comments dropped.
	var instrs []string
	cur := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur += more + " "
			continue
		}
		instrs = append(instrs, strings.TrimSpace(cur+line))
		cur = ""
	}
	var stages [][]string // instructions after each FROM
	for _, in := range instrs {
		if strings.HasPrefix(strings.ToUpper(in), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, found %d stages", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	for _, want := range []string{"FROM golang:", "CGO_ENABLED=0", "go build", "./cmd/herald"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage has no %q", want)
		}
	}
	if strings.Contains(final[0], "golang") {
		t.Errorf("the final stage is %q: run on a small base, not the Go toolchain", final[0])
	}
	instr := func(name string) []string {
		var out []string
		for _, in := range final {
			if kw, rest, _ := strings.Cut(in, " "); strings.EqualFold(kw, name) {
				out = append(out, strings.TrimSpace(rest))
			}
		}
		return out
	}
	users := instr("USER")
	if len(users) == 0 {
		t.Error("the final stage sets no USER: it would run as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		t.Errorf("the final stage runs as %q", users[len(users)-1])
	}
	if eps := instr("ENTRYPOINT"); len(eps) == 0 || !strings.Contains(eps[len(eps)-1], "herald") {
		t.Errorf("the final stage's ENTRYPOINT %q does not run herald", eps)
	}
	exposed := strings.Fields(strings.Join(instr("EXPOSE"), " "))
	for _, p := range []string{"8080", "8081", "9090"} {
		if !slices.Contains(exposed, p) && !slices.Contains(exposed, p+"/tcp") {
			t.Errorf("the final stage does not EXPOSE %s", p)
		}
	}
	_, fset := serveFlags()
	for _, env := range regexp.MustCompile(`\bHERALD_[A-Z0-9_]+`).FindAllString(strings.Join(instr("ENV"), " "), -1) {
		if envFlag(fset, env) == "" {
			t.Errorf("ENV %s is no variable of herald serve", env)
		}
	}
	if _, err := os.Stat(filepath.Join(deployDir, "Dockerfile.dockerignore")); err != nil {
		t.Errorf("the context is the repository root: keep .git and local data out of it: %v", err)
	}
}
