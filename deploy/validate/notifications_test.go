package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Change notifications (deploy/kubernetes/notifications): Graph posts to an
// Ingress, which routes to the receiver Deployment (`notifications serve`);
// a CronJob keeps the subscription alive (`subscribe`) and another drains the
// inbox (`run --datasets notifications`).

// subscriptionRenewal is how long `subscribe` renews the subscription for:
// Graph's maximum for call records, 4,230 minutes, less 30 (jobs.Subscribe).
const subscriptionRenewal = 4200 * time.Minute

func notificationsDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(k8sDir(tb), "notifications")
}

// notificationsDeployment is what deploy/kubernetes/notifications renders,
// sorted by role.
type notificationsDeployment struct {
	objs      []object
	receiver  *appsv1.Deployment
	services  []*corev1.Service
	ingresses []*networkingv1.Ingress
	pdbs      []*policyv1.PodDisruptionBudget
	configs   map[string]object // "ConfigMap/name" or "Secret/name" -> object
	subscribe *batchv1.CronJob
	drain     *batchv1.CronJob // run --datasets with notifications
	hourly    *batchv1.CronJob // run of the scheduled datasets
}

func loadNotifications(t *testing.T) notificationsDeployment {
	t.Helper()
	d := notificationsDeployment{objs: build(t, notificationsDir(t)), configs: map[string]object{}}
	setOnce := func(dst **batchv1.CronJob, cj *batchv1.CronJob, role string) {
		if *dst != nil {
			t.Fatalf("two CronJobs %s: %s and %s", role, (*dst).Name, cj.Name)
		}
		*dst = cj
	}
	for _, o := range d.objs {
		switch obj := o.obj.(type) {
		case *appsv1.Deployment:
			if cmd, err := commandOf(obj.Spec.Template.Spec.Containers[0].Args); err == nil && slices.Equal(cmd, cmdServe) {
				if d.receiver != nil {
					t.Fatalf("two receiver Deployments: %s and %s", d.receiver.Name, obj.Name)
				}
				d.receiver = obj
			}
		case *corev1.Service:
			d.services = append(d.services, obj)
		case *networkingv1.Ingress:
			d.ingresses = append(d.ingresses, obj)
		case *policyv1.PodDisruptionBudget:
			d.pdbs = append(d.pdbs, obj)
		case *corev1.ConfigMap:
			d.configs["ConfigMap/"+obj.Name] = o
		case *corev1.Secret:
			d.configs["Secret/"+obj.Name] = o
		}
	}
	// CronJobs by what they run, with the ConfigMaps known.
	for _, o := range d.objs {
		obj, ok := o.obj.(*batchv1.CronJob)
		if !ok {
			continue
		}
		c := obj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		cmd, err := commandOf(c.Args)
		if err != nil {
			t.Fatalf("CronJob %s: %v", obj.Name, err)
		}
		switch {
		case slices.Equal(cmd, cmdSubscribe):
			setOnce(&d.subscribe, obj, "subscribe")
		case slices.Equal(cmd, cmdRun) && slices.Contains(datasetsOf(t, c, d), "notifications"):
			setOnce(&d.drain, obj, "draining the inbox")
		case slices.Equal(cmd, cmdRun):
			setOnce(&d.hourly, obj, "running the scheduled datasets")
		}
	}
	for what, missing := range map[string]bool{"receiver Deployment": d.receiver == nil, "subscribe CronJob": d.subscribe == nil,
		"drain CronJob": d.drain == nil, "hourly CronJob": d.hourly == nil, "Service": len(d.services) == 0, "Ingress": len(d.ingresses) == 0} {
		if missing {
			t.Fatalf("deploy/kubernetes/notifications renders no %s", what)
		}
	}
	return d
}

// datasetsOf is the --datasets a run container ends up with.
func datasetsOf(t *testing.T, c corev1.Container, d notificationsDeployment) []string {
	t.Helper()
	v := d.settings(t, cmdRun, c, nil).flags["datasets"]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// settings is what a container's command sees.
type settings struct {
	env   map[string]string // environment as the kubelet builds it
	flags map[string]string // flag -> value, from the environment and the args
}

// settings works out what the command of container c sees, as the kubelet and
// urfave/cli would: envFrom sources in order (a later one wins), then env
// (wins over envFrom); a flag takes the first of its variables that is set,
// in the order its help lists them, and the args win over all. A value from a
// Secret that is neither in the build nor in secrets (created out of band)
// reads as "secret:<name>/<key>", so two containers can be compared.
func (d notificationsDeployment) settings(t *testing.T, cmd []string, c corev1.Container, secrets map[string]*corev1.Secret) settings {
	t.Helper()
	secretValue := func(name, key string) string {
		s, ok := secrets[name]
		if o, inBuild := d.configs["Secret/"+name]; inBuild {
			s, ok = o.obj.(*corev1.Secret), true
		}
		if ok {
			if v, ok := s.StringData[key]; ok {
				return v
			}
			if v, ok := s.Data[key]; ok {
				return string(v)
			}
		}
		return "secret:" + name + "/" + key
	}
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if r := ef.ConfigMapRef; r != nil {
			if o, ok := d.configs["ConfigMap/"+r.Name]; ok {
				for k, v := range o.obj.(*corev1.ConfigMap).Data {
					env[ef.Prefix+k] = v
				}
			}
		}
		if r := ef.SecretRef; r != nil {
			s, ok := secrets[r.Name]
			if o, inBuild := d.configs["Secret/"+r.Name]; inBuild {
				s, ok = o.obj.(*corev1.Secret), true
			}
			if ok {
				for _, k := range secretKeys(s) {
					env[ef.Prefix+k] = secretValue(r.Name, k)
				}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = secretValue(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			if o, ok := d.configs["ConfigMap/"+e.ValueFrom.ConfigMapKeyRef.Name]; ok {
				env[e.Name] = o.obj.(*corev1.ConfigMap).Data[e.ValueFrom.ConfigMapKeyRef.Key]
			}
		}
	}
	h := commandHelp(t, cmd...)
	flags := map[string]string{}
	for flag, names := range h.envsOfFlag {
		for _, n := range names {
			if v, ok := env[n]; ok {
				flags[flag] = v
				break
			}
		}
	}
	args, err := h.checkArgs(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range args {
		flags[k] = v
	}
	return settings{env: env, flags: flags}
}

// envSource names where a container's variable comes from: "literal",
// "ConfigMap/<name>", "Secret/<name>/<key>" or "" when it is not set.
func envSource(c corev1.Container, d notificationsDeployment, name string) string {
	for _, e := range slices.Backward(c.Env) {
		if e.Name != name {
			continue
		}
		switch {
		case e.ValueFrom == nil:
			return "literal"
		case e.ValueFrom.SecretKeyRef != nil:
			return "Secret/" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			return "other"
		}
	}
	for _, ef := range slices.Backward(c.EnvFrom) {
		if r := ef.ConfigMapRef; r != nil {
			if o, ok := d.configs["ConfigMap/"+r.Name]; ok {
				if _, ok := o.obj.(*corev1.ConfigMap).Data[strings.TrimPrefix(name, ef.Prefix)]; ok {
					return "ConfigMap/" + r.Name
				}
			}
		}
	}
	return ""
}

// listenPort is the port of a --listen address (":8080", "0.0.0.0:8080").
func listenPort(addr string) (int32, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("--listen %q: %w", addr, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--listen %q: want a fixed port", addr)
	}
	return int32(n), nil
}

// containerPort resolves a named or numbered port of a container.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// selects reports whether a label selector map (a Service's) picks pods with
// these labels; an empty selector selects nothing here (a Service without
// one has no endpoints managed for it).
func selects(selector, podLabels map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(podLabels))
}

// route is what an Ingress does with a URL: the Service and port it sends it
// to, and whether the host is covered by a TLS section.
type route struct {
	ingress string
	service string
	port    networkingv1.ServiceBackendPort
	tls     bool
}

// routeOf finds the Ingress rule for u, as an Ingress controller would: the
// rule of u's host, then its longest matching path (Exact before Prefix).
// ImplementationSpecific paths are not trusted and do not match.
func routeOf(ingresses []*networkingv1.Ingress, u *url.URL) (route, bool) {
	var best route
	bestLen, bestExact, found := -1, false, false
	for _, ing := range ingresses {
		tls := false
		for _, t := range ing.Spec.TLS {
			tls = tls || slices.Contains(t.Hosts, u.Hostname()) && t.SecretName != ""
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host != u.Hostname() || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || p.PathType == nil {
					continue
				}
				exact := *p.PathType == networkingv1.PathTypeExact
				var match bool
				switch *p.PathType {
				case networkingv1.PathTypeExact:
					match = u.Path == p.Path
				case networkingv1.PathTypePrefix:
					prefix := strings.TrimSuffix(p.Path, "/")
					match = u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/") || prefix == ""
				}
				if !match || len(p.Path) < bestLen || len(p.Path) == bestLen && bestExact && !exact {
					continue
				}
				best = route{ingress: ing.Name, service: p.Backend.Service.Name, port: p.Backend.Service.Port, tls: tls}
				bestLen, bestExact, found = len(p.Path), exact, true
			}
		}
	}
	return best, found
}

func TestRouteOf(t *testing.T) {
	exact, prefix := networkingv1.PathTypeExact, networkingv1.PathTypePrefix
	path := func(p string, typ *networkingv1.PathType, svc string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: typ, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "i"},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "t"}},
			Rules: []networkingv1.IngressRule{
				{Host: "a.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", &prefix, "web"), path("/notifications", &exact, "receiver"), path("/api", &prefix, "api")}}}},
				{Host: "b.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/notifications", &exact, "receiver")}}}},
			},
		},
	}
	tests := []struct {
		url, service string
		tls, found   bool
	}{
		{"https://a.example.com/notifications", "receiver", true, true},
		{"https://a.example.com/notifications/x", "web", true, true},
		{"https://a.example.com/api/v1", "api", true, true},
		{"https://a.example.com/apiv1", "web", true, true},
		{"https://b.example.com/notifications", "receiver", false, true},
		{"https://b.example.com/lifecycle", "", false, false},
		{"https://c.example.com/notifications", "", false, false},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		r, found := routeOf([]*networkingv1.Ingress{ing}, u)
		if found != tt.found || r.service != tt.service || r.tls != tt.tls {
			t.Errorf("routeOf(%s) = %+v, %v; want service %q, tls %v, found %v", tt.url, r, found, tt.service, tt.tls, tt.found)
		}
	}
}

// receiverPort is the port the receiver listens on, as its --listen says.
func (d notificationsDeployment) receiverPort(t *testing.T) int32 {
	t.Helper()
	c := d.receiver.Spec.Template.Spec.Containers[0]
	port, err := listenPort(d.settings(t, cmdServe, c, nil).flags["listen"])
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// receiverService is the Service that selects the receiver's pods.
func (d notificationsDeployment) receiverService(t *testing.T) *corev1.Service {
	t.Helper()
	var found []*corev1.Service
	for _, s := range d.services {
		if selects(s.Spec.Selector, d.receiver.Spec.Template.Labels) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Services select the receiver's pods, want 1", len(found))
	}
	return found[0]
}

// reachesReceiver checks that an Ingress route ends at the receiver: its
// Service, a port of that Service, and the container port the receiver
// listens on.
func (d notificationsDeployment) reachesReceiver(t *testing.T, r route) error {
	t.Helper()
	svc := d.receiverService(t)
	if r.service != svc.Name {
		return fmt.Errorf("Ingress %s routes it to Service %q, not the receiver's %q", r.ingress, r.service, svc.Name)
	}
	for _, sp := range svc.Spec.Ports {
		if r.port.Name != "" && sp.Name == r.port.Name || r.port.Name == "" && sp.Port == r.port.Number {
			got, ok := containerPort(d.receiver.Spec.Template.Spec.Containers[0], sp.TargetPort)
			if !ok || got != d.receiverPort(t) {
				return fmt.Errorf("Service %s port %v targets %s, not the port the receiver listens on (%d)", svc.Name, r.port, sp.TargetPort.String(), d.receiverPort(t))
			}
			return nil
		}
	}
	return fmt.Errorf("Ingress %s names port %+v, which Service %s does not have", r.ingress, r.port, svc.Name)
}

// subscriptionURLs are the URLs `subscribe` gives Graph.
func (d notificationsDeployment) subscriptionURLs(t *testing.T) map[string]string {
	t.Helper()
	c := d.subscribe.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	f := d.settings(t, cmdSubscribe, c, nil).flags
	return map[string]string{"notification-url": f["notification-url"], "lifecycle-url": f["lifecycle-url"]}
}

func TestNotificationsReceiver(t *testing.T) {
	d := loadNotifications(t)
	dep := d.receiver
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("receiver: %d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	h := commandHelp(t, cmdServe...)

	// Availability: two replicas, both kept through a rollout.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %s, want 2 or more, so that a restart or a node drain does not stop the endpoint Graph posts to", deref(dep.Spec.Replicas))
	}
	replicas := 1
	if dep.Spec.Replicas != nil {
		replicas = int(*dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy Recreate: every rollout would stop all receivers")
	} else if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil {
		t.Errorf("rollingUpdate.maxUnavailable unset (default 25%%, rounded down): want 0 explicitly")
	} else if n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false); err != nil || n != 0 {
		t.Errorf("rollingUpdate.maxUnavailable = %s: want 0, so a rollout never lowers the serving replicas", ru.MaxUnavailable.String())
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the pod template's labels %v (%v)", dep.Spec.Selector, dep.Spec.Template.Labels, err)
	}
	for _, pdb := range d.pdbs {
		ps, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !ps.Matches(labels.Set(dep.Spec.Template.Labels)) {
			continue
		}
		if pdb.Spec.MinAvailable == nil {
			continue
		}
		if n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, replicas, true); err != nil || n >= replicas || n < 1 {
			t.Errorf("PodDisruptionBudget %s minAvailable %s with %d replicas: want at least 1 and fewer than the replicas (else drains block)", pdb.Name, pdb.Spec.MinAvailable.String(), replicas)
		}
	}

	// The same hardening as the Jobs.
	checkIdentity(t, dep.Spec.Template)
	checkSecurity(t, spec, c, dockerfileUID(t))
	checkResources(t, c)
	checkCommandLine(t, c, h)
	if spec.RestartPolicy != "" && spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("restartPolicy = %q, want Always", spec.RestartPolicy)
	}

	// What it needs, and where the secret comes from.
	s := d.settings(t, cmdServe, c, nil)
	for _, flag := range []string{"tenant-id", "dest", "client-state"} {
		if s.flags[flag] == "" {
			t.Errorf("--%s is neither in the args nor in the environment: `notifications serve` exits 2 without it", flag)
		}
	}
	if src := envSource(c, d, "CALLRECORDS_CLIENT_STATE"); !strings.HasPrefix(src, "Secret/") {
		t.Errorf("CALLRECORDS_CLIENT_STATE comes from %q, want a Secret key (it is the receiver's proof that a POST comes from Graph)", src)
	}
	if a, err := h.checkArgs(c.Args); err == nil && a["client-state"] != "" {
		t.Errorf("--client-state in args: the secret would show in the pod spec")
	}
	if s.flags["tls-cert"] != "" || s.flags["tls-key"] != "" {
		t.Errorf("--tls-cert/--tls-key set: the Ingress talks plain http to the backend")
	}

	// Port and probes. Readiness asks GET /healthz, which is 200 only while
	// the store answers (TestNotificationsFlow shows it); liveness only
	// checks the listening port, so a store outage does not restart pods.
	port := d.receiverPort(t)
	if _, ok := containerPort(c, intstr.FromInt32(port)); !ok {
		t.Errorf("ports %v: none is the --listen port %d", c.Ports, port)
	}
	switch p := c.ReadinessProbe; {
	case p == nil || p.HTTPGet == nil:
		t.Errorf("readinessProbe %+v: want httpGet /healthz (ready when the store answers)", p)
	case p.HTTPGet.Path != "/healthz":
		t.Errorf("readinessProbe path %q, want /healthz", p.HTTPGet.Path)
	default:
		if got, ok := containerPort(c, p.HTTPGet.Port); !ok || got != port {
			t.Errorf("readinessProbe checks port %s, the receiver listens on %d", p.HTTPGet.Port.String(), port)
		}
	}
	switch p := c.LivenessProbe; {
	case p == nil || p.TCPSocket == nil:
		t.Errorf("livenessProbe %+v: want tcpSocket on the listening port (a store outage must not restart the receiver)", p)
	default:
		if got, ok := containerPort(c, p.TCPSocket.Port); !ok || got != port {
			t.Errorf("livenessProbe checks port %s, the receiver listens on %d", p.TCPSocket.Port.String(), port)
		}
	}
	// Prometheus finds /metrics on the listening port.
	ann := d.receiver.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) {
		t.Errorf("receiver pod annotations %v: want prometheus.io/scrape true, path /metrics, port %d", ann, port)
	}
	if p := c.LivenessProbe; p != nil && p.FailureThreshold > 0 && p.PeriodSeconds > 0 && p.FailureThreshold*p.PeriodSeconds < 10 {
		t.Errorf("livenessProbe restarts after %d s of failures: too eager", p.FailureThreshold*p.PeriodSeconds)
	}

	// Same image as the CronJobs (one release of the binary).
	hourly := d.hourly.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image
	if c.Image != hourly {
		t.Errorf("receiver image %q, the hourly CronJob's %q: want the same", c.Image, hourly)
	}
}

func TestNotificationsService(t *testing.T) {
	d := loadNotifications(t)
	svc := d.receiverService(t)
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s type %s: want ClusterIP behind the Ingress", svc.Name, svc.Spec.Type)
	}
	// A Job pod that matched would get requests while it runs (it has no
	// readiness probe, so it is ready as soon as it starts).
	for _, o := range d.objs {
		tmpl, ok := podTemplateOf(o.obj)
		if !ok || o.obj == d.receiver {
			continue
		}
		if selects(svc.Spec.Selector, tmpl.Labels) {
			t.Errorf("Service %s selector %v also selects the pods of %s", svc.Name, svc.Spec.Selector, o)
		}
	}
	port := d.receiverPort(t)
	for _, sp := range svc.Spec.Ports {
		if got, ok := containerPort(d.receiver.Spec.Template.Spec.Containers[0], sp.TargetPort); !ok || got != port {
			t.Errorf("Service %s port %d targets %s: want the receiver's --listen port %d", svc.Name, sp.Port, sp.TargetPort.String(), port)
		}
	}
}

func TestNotificationsIngress(t *testing.T) {
	d := loadNotifications(t)
	for _, ing := range d.ingresses {
		tlsHosts := map[string]bool{}
		for _, tls := range ing.Spec.TLS {
			if tls.SecretName == "" {
				t.Errorf("Ingress %s: TLS section without secretName", ing.Name)
			}
			for _, h := range tls.Hosts {
				tlsHosts[h] = true
			}
		}
		if ing.Spec.DefaultBackend != nil {
			t.Errorf("Ingress %s: defaultBackend exposes everything else", ing.Name)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host == "" || strings.Contains(rule.Host, "*") {
				t.Errorf("Ingress %s: host %q: want the one public name Graph posts to", ing.Name, rule.Host)
			}
			if !tlsHosts[rule.Host] {
				t.Errorf("Ingress %s: host %q has no TLS: Graph posts only to https", ing.Name, rule.Host)
			}
		}
	}
	// Every URL given to Graph is https, covered by TLS, and reaches the
	// receiver; lifecycle events need their own URL to be set at creation.
	urls := d.subscriptionURLs(t)
	for flag, raw := range urls {
		if raw == "" {
			t.Errorf("subscribe --%s unset", flag)
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("subscribe --%s %q: want an absolute https URL without query", flag, raw)
			continue
		}
		if u.Port() != "" && u.Port() != "443" {
			t.Errorf("subscribe --%s %q: port %s, the Ingress serves 443", flag, raw, u.Port())
		}
		r, ok := routeOf(d.ingresses, u)
		if !ok {
			t.Errorf("subscribe --%s %q: no Ingress rule routes it", flag, raw)
			continue
		}
		if !r.tls {
			t.Errorf("subscribe --%s %q: host not in the TLS section of Ingress %s", flag, raw, r.ingress)
		}
		if err := d.reachesReceiver(t, r); err != nil {
			t.Errorf("subscribe --%s %q: %v", flag, raw, err)
		}
	}
	// Nothing but the subscription's URLs is exposed.
	for _, ing := range d.ingresses {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				u := &url.URL{Scheme: "https", Host: rule.Host, Path: p.Path}
				if !slices.Contains(slices.Collect(maps.Values(urls)), u.String()) {
					t.Errorf("Ingress %s exposes %s, which is not a URL given to Graph", ing.Name, u)
				}
			}
		}
	}
}

func TestNotificationsCronJobs(t *testing.T) {
	d := loadNotifications(t)
	sub := d.subscribe.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	drain := d.drain.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	hourly := d.hourly.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	recv := d.receiver.Spec.Template.Spec.Containers[0]
	ss := d.settings(t, cmdSubscribe, sub, nil)
	ds := d.settings(t, cmdRun, drain, nil)
	hs := d.settings(t, cmdRun, hourly, nil)
	rs := d.settings(t, cmdServe, recv, nil)

	t.Run("subscribe", func(t *testing.T) {
		for _, flag := range []string{"tenant-id", "notification-url", "lifecycle-url", "client-state"} {
			if ss.flags[flag] == "" {
				t.Errorf("--%s is neither in the args nor in the environment", flag)
			}
		}
		// The receiver refuses every notification whose clientState or
		// tenant differs from its own; reauthorization uses its graph-url.
		if got, want := envSource(sub, d, "CALLRECORDS_CLIENT_STATE"), envSource(recv, d, "CALLRECORDS_CLIENT_STATE"); got != want || !strings.HasPrefix(got, "Secret/") {
			t.Errorf("client state from %q, the receiver's from %q: want the same Secret key", got, want)
		}
		for _, flag := range []string{"tenant-id", "graph-url"} {
			if ss.flags[flag] != rs.flags[flag] {
				t.Errorf("--%s = %q, the receiver's %q: want the same", flag, ss.flags[flag], rs.flags[flag])
			}
		}
		// Renewed to 4,200 minutes: the subscription must outlive at least
		// two failed or skipped runs.
		_, longest, err := cronGaps(d.subscribe.Spec.Schedule, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		var deadline time.Duration
		if ads := d.subscribe.Spec.JobTemplate.Spec.ActiveDeadlineSeconds; ads != nil {
			deadline = time.Duration(*ads) * time.Second
		}
		if 3*longest+deadline > subscriptionRenewal {
			t.Errorf("schedule %q (up to %s apart): three runs take longer than the %s a renewal lasts", d.subscribe.Spec.Schedule, longest, subscriptionRenewal)
		}
	})

	t.Run("drain", func(t *testing.T) {
		h := commandHelp(t, cmdRun...)
		known := datasetsInUsage(h.usage["datasets"])
		if len(known) == 0 {
			t.Fatalf("`run --help` lists no datasets in %q", h.usage["datasets"])
		}
		got := strings.Split(ds.flags["datasets"], ",")
		for _, name := range got {
			if !slices.Contains(known, name) {
				t.Errorf("--datasets %q: %q is not one of %v", got, name, known)
			}
		}
		if !slices.Equal(got, []string{"notifications"}) {
			t.Errorf("--datasets %q: want notifications only (the hourly run reads the rest)", got)
		}
		if slices.Contains(strings.Split(hs.flags["datasets"], ","), "notifications") {
			t.Errorf("hourly run --datasets %q includes notifications: it drains the inbox with callrecords anyway", hs.flags["datasets"])
		}
		// The drain and the hourly run read the inbox the receiver writes.
		for _, flag := range []string{"tenant-id", "dest", "s3-endpoint", "s3-region", "s3-path-style", "graph-url"} {
			if ds.flags[flag] != rs.flags[flag] || hs.flags[flag] != rs.flags[flag] {
				t.Errorf("--%s: receiver %q, drain %q, hourly run %q: want the same", flag, rs.flags[flag], ds.flags[flag], hs.flags[flag])
			}
		}
		shortest, longest, err := cronGaps(d.drain.Spec.Schedule, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		hourlyShortest, _, err := cronGaps(d.hourly.Spec.Schedule, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if longest >= hourlyShortest {
			t.Errorf("drain every %s-%s, the hourly run every %s: the drain should be the faster path", shortest, longest, hourlyShortest)
		}
	})
}

// TestNotificationsHostSetOnce checks what ingress.yaml and the
// kustomization promise: the public host name is set once, in the Ingress's
// first rule, and kustomize copies it into the TLS section and into the URLs
// `subscribe` gives Graph. It builds a copy of deploy/kubernetes in memory
// with only that line changed.
func TestNotificationsHostSetOnce(t *testing.T) {
	const newHost = "notify.contoso.test"
	root := k8sDir(t)
	mem := filesys.MakeFsInMemory()
	var ingressFile string
	var oldHost string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if dir := filepath.Dir(path); dir == notificationsDir(t) && strings.HasSuffix(path, ".yaml") {
			docs, err := yamlDocuments(data)
			if err != nil {
				return err
			}
			for _, doc := range docs {
				obj, _, err := decodeManifest(strictDecoder(), doc)
				if ing, ok := obj.(*networkingv1.Ingress); err == nil && ok && len(ing.Spec.Rules) > 0 {
					ingressFile, oldHost = path, ing.Spec.Rules[0].Host
				}
			}
		}
		if err := mem.MkdirAll(filepath.Dir(path)); err != nil {
			return err
		}
		return mem.WriteFile(path, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ingressFile == "" || oldHost == "" {
		t.Fatalf("no Ingress with a host under %s", notificationsDir(t))
	}
	data, err := mem.ReadFile(ingressFile)
	if err != nil {
		t.Fatal(err)
	}
	line := "- host: " + oldHost + "\n"
	if n := strings.Count(string(data), line); n != 1 {
		t.Fatalf("%s: %d lines %q, want 1 (the one place to set the host)", ingressFile, n, strings.TrimSpace(line))
	}
	if err := mem.WriteFile(ingressFile, []byte(strings.Replace(string(data), line, "- host: "+newHost+"\n", 1))); err != nil {
		t.Fatal(err)
	}

	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, notificationsDir(t))
	if err != nil {
		t.Fatalf("kustomize build with host %s: %v", newHost, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), oldHost) {
		t.Errorf("with rules[0].host = %s the build still names %s somewhere:\n%s", newHost, oldHost, out)
	}
	docs, err := yamlDocuments(out)
	if err != nil {
		t.Fatal(err)
	}
	d := notificationsDeployment{configs: map[string]object{}}
	for i, doc := range docs {
		obj, _, err := decodeManifest(strictDecoder(), doc)
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		switch o := obj.(type) {
		case *networkingv1.Ingress:
			d.ingresses = append(d.ingresses, o)
		case *batchv1.CronJob:
			if cmd, err := commandOf(o.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args); err == nil && slices.Equal(cmd, cmdSubscribe) {
				d.subscribe = o
			}
		}
	}
	if d.subscribe == nil {
		t.Fatal("no subscribe CronJob in the build")
	}
	for flag, raw := range d.subscriptionURLs(t) {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() != newHost {
			t.Errorf("--%s = %q: want host %s", flag, raw, newHost)
			continue
		}
		if r, ok := routeOf(d.ingresses, u); !ok || !r.tls {
			t.Errorf("--%s = %q: routed %v, TLS %v; want both", flag, raw, ok, r.tls)
		}
	}
}

// datasetsInUsage reads the dataset names from the usage text of --datasets
// ("datasets to run: callrecords,pstn,directrouting,notifications").
func datasetsInUsage(usage string) []string {
	_, list, ok := strings.Cut(usage, ": ")
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, " ")
	return strings.Split(list, ",")
}

// TestNotificationsFlow runs the documented order of deploy/kubernetes/
// notifications with the real binary and exactly the manifests' commands and
// environment (ConfigMap, and the client state of the example Secret), on
// loopback: the built-in Graph simulator stands for Graph, a temporary
// directory for the lake, and each URL given to Graph is sent where the
// Ingress routes it, the receiver. Only --listen, --dest, --graph-url and
// --temp-dir are replaced, and CALLRECORDS_GRAPH_TOKEN stands for the
// workload identity.
//
//  1. the receiver starts, is ready (GET /healthz 200: the store answers),
//     serves /metrics, and answers GET on Graph's URLs with 405;
//  2. subscribe creates the subscription: the simulator validates both URLs
//     against the receiver; run again, it renews the same one;
//  3. a change notification, as Graph posts it, is acknowledged 202 and
//     recorded in the inbox; a reauthorizationRequired lifecycle event is
//     acknowledged and the receiver renews the subscription;
//  4. the drain CronJob's run fetches the record into the lake and empties
//     the inbox, with an exit code its podFailurePolicy counts as success;
//  5. SIGTERM stops the receiver with exit code 0.
func TestNotificationsFlow(t *testing.T) {
	bin := etlBinary(t)
	d := loadNotifications(t)
	emptyFirst := 0
	for _, at := range flowInstants {
		t.Run(at.Format("2006-01-02T15-04Z"), func(t *testing.T) {
			if notificationsFlow(t, bin, d, at) {
				emptyFirst++
			}
		})
	}
	if emptyFirst == 0 && !t.Failed() {
		t.Errorf("no instant of %v had an empty first list page: the case the instants are there for is not covered", flowInstants)
	}
}

// flowInstants are the simulated "now"s the flow runs at, spread over a day.
// The simulated tenant moves with its clock and, like Graph, now and then
// answers a list page with no items and a nextLink: at 2026-12-04T02:55Z
// (CALLRECORDS_NOW, which the simulator and every command read) the very
// first page of the call-record listing is such a page.
var flowInstants = []time.Time{
	time.Date(2026, 12, 3, 4, 10, 0, 0, time.UTC),
	time.Date(2026, 12, 3, 9, 35, 0, 0, time.UTC),
	time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 3, 19, 45, 0, 0, time.UTC),
	time.Date(2026, 12, 4, 2, 55, 0, 0, time.UTC),
}

// notificationsFlow runs the flow of TestNotificationsFlow with every process
// pinned to the instant at; it reports whether the simulator's first list
// page was an empty one.
func notificationsFlow(t *testing.T, bin string, d notificationsDeployment, at time.Time) (emptyFirstPage bool) {
	// The Secrets created out of band that the pods need, as their examples
	// write them. Optional ones (the client-secret credential) are left out:
	// CALLRECORDS_GRAPH_TOKEN stands for workload identity.
	examples := map[string]*corev1.Secret{}
	all := exampleSecrets(loadManifests(t, k8sDir(t)))
	for _, o := range d.objs {
		spec, _ := podSpecOf(o.obj)
		for _, ref := range configRefs(spec) {
			if ref.kind == "Secret" && !ref.optional && all[ref.name] != nil {
				examples[ref.name] = all[ref.name]
			}
		}
	}
	tmp := t.TempDir()
	lake := filepath.Join(tmp, "lake")
	// Every process reads its clock from CALLRECORDS_NOW; the test's own
	// notion of now runs on from the same instant.
	pinned := time.Now()
	now := func() time.Time { return at.Add(time.Since(pinned)) }
	clockEnv := []string{"HOME", tmp, "CALLRECORDS_NOW", at.Format(time.RFC3339)}

	recv := d.receiver.Spec.Template.Spec.Containers[0]
	recvSettings := d.settings(t, cmdServe, recv, examples)
	tenant := recvSettings.flags["tenant-id"]
	clientState := recvSettings.flags["client-state"]
	if tenant == "" || clientState == "" || strings.HasPrefix(clientState, "secret:") {
		t.Fatalf("receiver: tenant %q, client state %q: want both, the client state from client-state-secret.example.yaml", tenant, clientState)
	}

	// Graph.
	graphAddr := freeAddr(t)
	startProcess(t, bin, "graph-simulator", []string{"simulate", "--listen", graphAddr, "--tenant-id", tenant}, withEnv(nil, clockEnv...))
	graphURL := "http://" + graphAddr

	// 1. The receiver.
	recvAddr := freeAddr(t)
	recvEnv := withEnv(withEnv(recvSettings.env, clockEnv...), "CALLRECORDS_GRAPH_TOKEN", "x")
	recvArgs := withFlags(recv.Args, "listen", recvAddr, "dest", lake, "graph-url", graphURL)
	receiver := startProcess(t, bin, "receiver", recvArgs, recvEnv)
	// Each URL given to Graph goes where the Ingress routes it.
	local := func(raw string) string {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parse %q: %v", raw, err)
		}
		r, ok := routeOf(d.ingresses, u)
		if !ok {
			t.Fatalf("no Ingress rule for %s", raw)
		}
		if err := d.reachesReceiver(t, r); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		u.Scheme, u.Host = "http", recvAddr
		return u.String()
	}
	urls := d.subscriptionURLs(t)
	for _, raw := range urls {
		resp, err := http.Get(local(raw))
		if err != nil {
			t.Fatalf("GET %s: %v", raw, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405 (Graph only POSTs)", raw, resp.StatusCode)
		}
	}
	probe := d.receiver.Spec.Template.Spec.Containers[0].ReadinessProbe
	if probe == nil || probe.HTTPGet == nil {
		t.Fatalf("receiver readinessProbe %+v: want httpGet", probe)
	}
	for path, want := range map[string]string{probe.HTTPGet.Path: "ok", d.receiver.Spec.Template.Annotations["prometheus.io/path"]: "# TYPE callrecords_etl_notifications_received_total counter"} {
		resp, err := http.Get("http://" + recvAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}

	// 2. subscribe, twice.
	sub := d.subscribe.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	subSettings := d.settings(t, cmdSubscribe, sub, examples)
	subEnv := withEnv(withEnv(subSettings.env, clockEnv...), "CALLRECORDS_GRAPH_TOKEN", "x")
	subArgs := withFlags(sub.Args, "notification-url", local(urls["notification-url"]), "lifecycle-url", local(urls["lifecycle-url"]), "graph-url", graphURL)
	var subID string
	for i := range 2 {
		code, out := runProcess(t, bin, subArgs, subEnv)
		if code != 0 {
			t.Fatalf("subscribe (run %d) exit code %d, want 0\n%s\nreceiver:\n%s", i+1, code, out, receiver.output())
		}
		subs := graphSubscriptions(t, graphURL)
		if len(subs) != 1 {
			t.Fatalf("after subscribe run %d: %d subscriptions, want 1: %+v", i+1, len(subs), subs)
		}
		s := subs[0]
		if s.NotificationURL != local(urls["notification-url"]) || s.LifecycleNotificationURL != local(urls["lifecycle-url"]) || s.ClientState != clientState {
			t.Errorf("subscription %+v: want the URLs %v and the receiver's client state", s, urls)
		}
		if subID != "" && s.ID != subID {
			t.Errorf("subscribe run %d: subscription %s replaced %s; want it renewed", i+1, s.ID, subID)
		}
		subID = s.ID
	}

	// 3. A notification and a lifecycle event, as Graph posts them.
	id, emptyPages := firstCallRecord(t, graphURL)
	note := map[string]any{"value": []map[string]any{{
		"subscriptionId": subID, "clientState": clientState, "tenantId": tenant, "changeType": "created",
		"resource": "communications/callRecords/" + id, "subscriptionExpirationDateTime": now().Add(time.Hour).UTC().Format(time.RFC3339),
		"resourceData": map[string]any{"@odata.type": "#microsoft.graph.callrecord", "@odata.id": "communications/callRecords/" + id, "id": id},
	}}}
	if code := postJSON(t, local(urls["notification-url"]), note); code != http.StatusAccepted {
		t.Fatalf("notification answered %d, want 202\nreceiver:\n%s", code, receiver.output())
	}
	inbox := filepath.Join(lake, "_etl", "inbox", tenant)
	if n := countFiles(t, inbox); n != 1 {
		t.Fatalf("inbox %s holds %d entries after the notification, want 1", inbox, n)
	}
	// reauthorizationRequired: the receiver acknowledges, then reauthorizes
	// and renews the subscription with its own Graph settings.
	event := map[string]any{"value": []map[string]any{{
		"subscriptionId": subID, "clientState": clientState, "tenantId": tenant, "lifecycleEvent": "reauthorizationRequired",
		"resource": "/communications/callRecords", "subscriptionExpirationDateTime": now().Add(time.Hour).UTC().Format(time.RFC3339),
	}}}
	if code := postJSON(t, local(urls["lifecycle-url"]), event); code/100 != 2 {
		t.Errorf("lifecycle event answered %d, want 2xx", code)
	} else if line := receiver.waitLog(t, "subscription reauthorized", "reauthorization failed", "reauthorization required; run"); !strings.Contains(line, "subscription reauthorized") {
		t.Errorf("after reauthorizationRequired the receiver logged %q, want the subscription reauthorized", line)
	}

	// 4. The drain.
	drain := d.drain.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	drainEnv := withEnv(withEnv(d.settings(t, cmdRun, drain, examples).env, clockEnv...), "CALLRECORDS_GRAPH_TOKEN", "x")
	drainArgs := withFlags(drain.Args, "dest", lake, "graph-url", graphURL, "temp-dir", t.TempDir())
	code, out := runProcess(t, bin, drainArgs, drainEnv)
	if action := failureAction(d.drain.Spec.JobTemplate.Spec.PodFailurePolicy, drain.Name, int32(code)); code != 0 {
		t.Fatalf("drain exit code %d (podFailurePolicy: %s), want 0\n%s", code, action, out)
	}
	if n := countFiles(t, inbox); n != 0 {
		t.Errorf("inbox holds %d entries after the drain, want 0", n)
	}
	if n := countFiles(t, filepath.Join(lake, "call_records")); n != 1 {
		t.Errorf("call_records holds %d files after the drain, want 1 (the notified record's partition)", n)
	}

	// 5. SIGTERM.
	if code := receiver.stop(t); code != 0 {
		t.Errorf("receiver exit code %d after SIGTERM, want 0\n%s", code, receiver.output())
	}
	return emptyPages > 0
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// withFlags replaces flags of args (both --name=value and --name value forms)
// by --name=value; pairs is name, value, name, value...
func withFlags(args []string, pairs ...string) []string {
	out := slices.Clone(args)
	for i := 0; i+1 < len(pairs); i += 2 {
		name, value := pairs[i], pairs[i+1]
		var kept []string
		for j := 0; j < len(out); j++ {
			a := out[j]
			if a == "--"+name || a == "-"+name {
				j++ // and its value
				continue
			}
			if strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=") {
				continue
			}
			kept = append(kept, a)
		}
		out = append(kept, "--"+name+"="+value)
	}
	return out
}

// withEnv returns a copy of env with pairs (name, value, ...) set.
func withEnv(env map[string]string, pairs ...string) map[string]string {
	out := make(map[string]string, len(env)+len(pairs)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// process is a long-running command of the test (the simulator, the
// receiver), stopped when the test ends.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProcess starts bin with args and exactly env, and waits until it
// accepts connections on its --listen address.
func startProcess(t *testing.T, bin, name string, args []string, env map[string]string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	var addr string
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			addr = v
		} else if a == "--listen" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	if addr == "" {
		t.Fatalf("%s: no --listen in %q", name, args)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", name, addr, p.err, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections on %s: %v\n%s", name, addr, err, p.output())
		}
	}
}

// output is what the process logged so far.
func (p *process) output() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

// waitLog waits until the process logs a line containing one of msgs (or
// exits) and returns that line.
func (p *process) waitLog(t *testing.T, msgs ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(p.output(), "\n") {
			for _, m := range msgs {
				if strings.Contains(line, m) {
					return line
				}
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) without logging any of %q\n%s", p.name, p.err, msgs, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged none of %q\n%s", p.name, msgs, p.output())
		}
	}
}

// stop sends SIGTERM, as the kubelet does, and returns the exit code.
func (p *process) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s still running a minute after SIGTERM", p.name)
	}
	return exitCodeOf(t, p.err)
}

func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatalf("run: %v", err)
	return -1
}

// runProcess runs bin to completion and returns its exit code and output.
func runProcess(t *testing.T, bin string, args []string, env map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(env)
	out, err := cmd.CombinedOutput()
	return exitCodeOf(t, err), string(out)
}

// graphSubscription is what the simulator lists at /v1.0/subscriptions.
type graphSubscription struct {
	ID                       string `json:"id"`
	NotificationURL          string `json:"notificationUrl"`
	LifecycleNotificationURL string `json:"lifecycleNotificationUrl"`
	ClientState              string `json:"clientState"`
}

func graphGet(t *testing.T, u string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v\n%s", u, resp.StatusCode, err, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
}

// graphList collects every item of a Graph collection, following
// @odata.nextLink from page to page (Graph may answer a page with no items
// and a nextLink).
func graphList[T any](t *testing.T, u string) (items []T) {
	t.Helper()
	for pages := 0; u != ""; pages++ {
		if pages == 1000 {
			t.Fatalf("%s: still paging after %d pages", u, pages)
		}
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		graphGet(t, u, &page)
		items = append(items, page.Value...)
		u = page.NextLink
	}
	return items
}

func graphSubscriptions(t *testing.T, graphURL string) []graphSubscription {
	t.Helper()
	return graphList[graphSubscription](t, graphURL+"/v1.0/subscriptions")
}

// firstCallRecord is the id of a call record the simulator serves, and how
// many empty pages came before it.
func firstCallRecord(t *testing.T, graphURL string) (id string, emptyPages int) {
	t.Helper()
	u := graphURL + "/v1.0/communications/callRecords"
	for pages := 0; u != ""; pages++ {
		if pages == 1000 {
			t.Fatalf("the simulator lists no call record in %d pages", pages)
		}
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		graphGet(t, u, &page)
		if len(page.Value) > 0 && page.Value[0].ID != "" {
			return page.Value[0].ID, emptyPages
		}
		emptyPages++
		u = page.NextLink
	}
	t.Fatalf("the simulator lists no call records")
	return "", 0
}

func postJSON(t *testing.T, u string, v any) int {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(u, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// countFiles counts the regular files under dir (0 if it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}

// TestNotificationsNetworkPolicy: the example NetworkPolicy selects the
// receiver's pods (and no CronJob's), lets traffic in only to the receiver's
// port, and lets the receiver reach DNS and HTTPS (store, Entra, Graph).
func TestNotificationsNetworkPolicy(t *testing.T) {
	d := loadNotifications(t)
	var policies []*networkingv1.NetworkPolicy
	for _, o := range d.objs {
		if np, ok := o.obj.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, np)
		}
	}
	if len(policies) != 1 {
		t.Fatalf("%d NetworkPolicies in the notifications deployment, want 1", len(policies))
	}
	np := policies[0]
	if !selects(np.Spec.PodSelector.MatchLabels, d.receiver.Spec.Template.Labels) || len(np.Spec.PodSelector.MatchExpressions) > 0 {
		t.Errorf("NetworkPolicy selector %v does not select the receiver's pods %v", np.Spec.PodSelector.MatchLabels, d.receiver.Spec.Template.Labels)
	}
	for _, o := range d.objs {
		if tmpl, ok := podTemplateOf(o.obj); ok && o.obj != d.receiver && selects(np.Spec.PodSelector.MatchLabels, tmpl.Labels) {
			t.Errorf("NetworkPolicy also selects %s, whose egress it would cut", o)
		}
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("policyTypes %v: want Ingress and Egress", np.Spec.PolicyTypes)
	}
	c := d.receiver.Spec.Template.Spec.Containers[0]
	port := d.receiverPort(t)
	if len(np.Spec.Ingress) == 0 {
		t.Fatal("no ingress rule: nothing could reach the receiver")
	}
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %+v admits every source", rule)
		}
		for _, p := range rule.Ports {
			if p.Port == nil {
				t.Errorf("ingress rule admits every port")
			} else if got, ok := containerPort(c, *p.Port); !ok || got != port {
				t.Errorf("ingress rule admits port %s, the receiver listens on %d", p.Port.String(), port)
			}
		}
	}
	egress := map[int32]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Port != nil {
				egress[p.Port.IntVal] = true
			}
		}
	}
	if !egress[53] || !egress[443] {
		t.Errorf("egress ports %v: want 53 (DNS) and 443 (store, Entra, Graph)", egress)
	}
}
