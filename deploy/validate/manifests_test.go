package validate_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one decoded YAML document of a manifest file or of a kustomize build.
type object struct {
	source string // file:document or kustomize dir
	obj    runtime.Object
}

func (o object) String() string {
	if m, ok := o.obj.(metav1.Object); ok {
		name := m.GetName()
		if name == "" {
			name = m.GetGenerateName() + "*"
		}
		return fmt.Sprintf("%s %T %s", o.source, o.obj, name)
	}
	return fmt.Sprintf("%s %T", o.source, o.obj)
}

// strictDecoder decodes Kubernetes YAML into the official API types and
// rejects unknown and duplicate fields, like `kubectl apply --validate=strict`
// does on the server.
func strictDecoder() *k8sjson.Serializer {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme, scheme,
		k8sjson.SerializerOptions{Yaml: true, Strict: true})
}

// yamlDocuments splits a multi-document YAML stream, dropping documents that
// hold only comments or whitespace.
func yamlDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeManifest decodes one document: a Kustomization into kustomize's type,
// anything else into the registered Kubernetes types, strictly.
func decodeManifest(dec *k8sjson.Serializer, doc []byte) (runtime.Object, *kusttypes.Kustomization, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, nil, err
	}
	if tm.Kind == kusttypes.KustomizationKind {
		var k kusttypes.Kustomization
		if err := yaml.UnmarshalStrict(doc, &k); err != nil {
			return nil, nil, fmt.Errorf("kustomization: %w", err)
		}
		return nil, &k, nil
	}
	obj, _, err := dec.Decode(doc, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	return obj, nil, nil
}

// manifestSet is everything under deploy/kubernetes, decoded.
type manifestSet struct {
	objects        []object
	kustomizations map[string]*kusttypes.Kustomization // directory -> its kustomization
}

func loadManifests(tb testing.TB, dir string) manifestSet {
	tb.Helper()
	dec := strictDecoder()
	set := manifestSet{kustomizations: map[string]*kusttypes.Kustomization{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		docs, err := yamlDocuments(data)
		if err != nil {
			return fmt.Errorf("split %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		for i, doc := range docs {
			obj, k, err := decodeManifest(dec, doc)
			if err != nil {
				return fmt.Errorf("decode %s document %d: %w", rel, i, err)
			}
			if k != nil {
				set.kustomizations[filepath.Dir(path)] = k
				continue
			}
			set.objects = append(set.objects, object{source: fmt.Sprintf("%s:%d", rel, i), obj: obj})
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

func k8sDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(repoRoot(tb), "deploy", "kubernetes")
}

// build runs kustomize (as `kubectl kustomize`, root-only load restrictions)
// on dir and decodes what it renders, strictly.
func build(tb testing.TB, dir string) []object {
	tb.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		tb.Fatalf("kustomize build %s: render: %v", dir, err)
	}
	docs, err := yamlDocuments(out)
	if err != nil {
		tb.Fatalf("kustomize build %s: split: %v", dir, err)
	}
	dec := strictDecoder()
	var objs []object
	for i, doc := range docs {
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			tb.Fatalf("kustomize build %s: document %d: %v\n%s", dir, i, err, doc)
		}
		objs = append(objs, object{source: fmt.Sprintf("build(%s):%d", filepath.Base(dir), i), obj: obj})
	}
	return objs
}

// entryPoints are the kustomization directories no other kustomization uses as
// a resource: the ones meant for `kubectl apply -k`.
func entryPoints(set manifestSet) []string {
	used := map[string]bool{}
	for dir, k := range set.kustomizations {
		for _, r := range k.Resources {
			used[filepath.Clean(filepath.Join(dir, r))] = true
		}
	}
	var out []string
	for dir := range set.kustomizations {
		if !used[dir] {
			out = append(out, dir)
		}
	}
	slices.Sort(out)
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	set := loadManifests(t, k8sDir(t))
	kinds := map[string]int{}
	for _, o := range set.objects {
		kinds[fmt.Sprintf("%T", o.obj)]++
	}
	for _, want := range []string{"*v1.CronJob", "*v1.Job", "*v1.ServiceAccount", "*v1.ConfigMap", "*v1.Secret"} {
		if kinds[want] == 0 {
			t.Errorf("deploy/kubernetes has no %s; decoded kinds: %v", want, kinds)
		}
	}
	if len(set.kustomizations) == 0 {
		t.Fatal("deploy/kubernetes has no kustomization.yaml")
	}
	for dir, k := range set.kustomizations {
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s/kustomization.yaml: resource %s: %v", dir, r, err)
				continue
			}
			if fi.IsDir() {
				if _, ok := set.kustomizations[filepath.Clean(p)]; !ok {
					t.Errorf("%s/kustomization.yaml: resource %s is a directory without a kustomization", dir, r)
				}
			}
		}
	}
}

// TestStrictDecoderRejects checks the checker: the decoder used above must
// reject what the API server would reject or silently drop.
func TestStrictDecoderRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"misspelt field", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\nspec:\n  schedule: '0 * * * *'\n  concurencyPolicy: Forbid\n  jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: b}]}}}}\n"},
		{"field at the wrong level", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      podFailurePolicy: {rules: []}\n      containers: [{name: a, image: b}]\n"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: '1'}\ndata: {B: '2'}\n"},
		{"unregistered kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"},
		{"wrong type", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  backoffLimit: two\n  template: {spec: {containers: [{name: a, image: b}]}}\n"},
		{"bad quantity", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  template: {spec: {containers: [{name: a, image: b, resources: {limits: {memory: 512MB}}}]}}\n"},
		{"kustomization typo", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource: [a.yaml]\n"},
	}
	dec := strictDecoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeManifest(dec, []byte(tt.doc)); err == nil {
				t.Errorf("decodeManifest(%s) = nil error, want an error", tt.name)
			}
		})
	}
	ok := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  template: {spec: {restartPolicy: Never, containers: [{name: a, image: b}]}}\n"
	if _, _, err := decodeManifest(dec, []byte(ok)); err != nil {
		t.Errorf("decodeManifest(valid Job) = %v, want nil", err)
	}
}

func TestKustomizeBuilds(t *testing.T) {
	set := loadManifests(t, k8sDir(t))
	entries := entryPoints(set)
	if len(entries) < 2 {
		t.Fatalf("entry points %v: want the single-tenant and the multi-tenant kustomizations", entries)
	}
	dirs := slices.Sorted(maps.Keys(set.kustomizations))
	for _, dir := range dirs {
		rel, _ := filepath.Rel(k8sDir(t), dir)
		t.Run(rel, func(t *testing.T) {
			objs := build(t, dir)
			if len(objs) == 0 {
				t.Fatalf("kustomize build %s rendered nothing", rel)
			}
			if slices.Contains(entries, dir) {
				checkInstallable(t, objs)
			}
		})
	}
}

// checkInstallable checks that a rendered entry point stands on its own: every
// pod's ServiceAccount and every non-optional ConfigMap or Secret it reads is
// in the output, and the ServiceAccount carries both federations.
func checkInstallable(t *testing.T, objs []object) {
	t.Helper()
	have := map[string]object{}
	for _, o := range objs {
		m := o.obj.(metav1.Object)
		have[fmt.Sprintf("%T/%s", o.obj, m.GetName())] = o
		if ns := m.GetNamespace(); ns == "" {
			t.Errorf("%s: no namespace; the kustomization should set one", o)
		}
	}
	jobs := 0
	for _, o := range objs {
		spec, ok := podSpecOf(o.obj)
		if !ok {
			continue
		}
		jobs++
		sa, ok := have["*v1.ServiceAccount/"+spec.ServiceAccountName]
		if !ok {
			t.Errorf("%s: serviceAccountName %q is not in the build", o, spec.ServiceAccountName)
		} else {
			ann := sa.obj.(*corev1.ServiceAccount).Annotations
			for _, key := range []string{"azure.workload.identity/client-id", "eks.amazonaws.com/role-arn"} {
				if ann[key] == "" {
					t.Errorf("%s: annotation %s missing", sa, key)
				}
			}
		}
		for _, c := range spec.Containers {
			for _, ef := range c.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil && !isTrue(ef.ConfigMapRef.Optional):
					if _, ok := have["*v1.ConfigMap/"+ef.ConfigMapRef.Name]; !ok {
						t.Errorf("%s: envFrom ConfigMap %q is not in the build", o, ef.ConfigMapRef.Name)
					}
				case ef.SecretRef != nil && !isTrue(ef.SecretRef.Optional):
					if _, ok := have["*v1.Secret/"+ef.SecretRef.Name]; !ok {
						t.Errorf("%s: envFrom Secret %q is not in the build and not optional", o, ef.SecretRef.Name)
					}
				}
			}
		}
	}
	if jobs == 0 {
		t.Errorf("build has no CronJob or Job")
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// podSpecOf returns the pod template of a CronJob or Job.
func podSpecOf(obj runtime.Object) (corev1.PodSpec, bool) {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template.Spec, true
	case *batchv1.Job:
		return o.Spec.Template.Spec, true
	}
	return corev1.PodSpec{}, false
}

// allObjects is every object of deploy/kubernetes: the files as written and
// what each entry point renders (name suffixes, namespaces, image tags and
// patches applied).
func allObjects(t *testing.T) []object {
	t.Helper()
	set := loadManifests(t, k8sDir(t))
	objs := slices.Clone(set.objects)
	for _, dir := range entryPoints(set) {
		objs = append(objs, build(t, dir)...)
	}
	return objs
}

// imageRefs lists every image reference of the deployment: containers in the
// manifests and in kustomize's output, kustomize's images: overrides, and the
// Airflow DAG's IMAGE.
func imageRefs(t *testing.T) map[string][]string {
	t.Helper()
	refs := map[string][]string{} // image -> where
	for _, o := range allObjects(t) {
		if spec, ok := podSpecOf(o.obj); ok {
			for _, c := range spec.Containers {
				refs[c.Image] = append(refs[c.Image], o.String())
			}
		}
	}
	set := loadManifests(t, k8sDir(t))
	for dir, k := range set.kustomizations {
		for _, img := range k.Images {
			name := img.Name
			if img.NewName != "" {
				name = img.NewName
			}
			ref := name + ":" + img.NewTag
			if img.Digest != "" {
				ref = name + "@" + img.Digest
			}
			refs[ref] = append(refs[ref], dir+"/kustomization.yaml images")
		}
	}
	dag := readDAG(t)
	if m := dagImage.FindStringSubmatch(dag); m != nil {
		refs[m[1]] = append(refs[m[1]], "deploy/airflow IMAGE")
	} else {
		t.Errorf("deploy/airflow DAG: no IMAGE = \"...\" assignment")
	}
	return refs
}

func TestImageReferencesAgree(t *testing.T) {
	refs := imageRefs(t)
	if len(refs) != 1 {
		t.Fatalf("image references differ, want one everywhere: %v", refs)
	}
	for ref, where := range refs {
		name, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("image %q (%v): want a pinned tag, not latest or none", ref, where)
		}
		if name != "callrecords-etl" {
			t.Errorf("image %q: want repository name callrecords-etl", ref)
		}
		if len(where) < 4 {
			t.Errorf("image %q found only in %v", ref, where)
		}
	}
}

func TestJobsAreSafe(t *testing.T) {
	h := runFlags(t)
	uid := dockerfileUID(t)
	jobs := 0
	for _, o := range allObjects(t) {
		var js batchv1.JobSpec
		cj, isCronJob := o.obj.(*batchv1.CronJob)
		switch obj := o.obj.(type) {
		case *batchv1.CronJob:
			js = obj.Spec.JobTemplate.Spec
		case *batchv1.Job:
			js = obj.Spec
		default:
			continue
		}
		jobs++
		t.Run(o.String(), func(t *testing.T) {
			if isCronJob {
				checkCronJob(t, cj)
			}
			checkJobSpec(t, js, h, uid)
		})
	}
	if jobs < 3 {
		t.Errorf("checked %d CronJobs and Jobs, want at least the CronJob, the backfill Job and a rendered CronJob", jobs)
	}
}

func checkCronJob(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.StartingDeadlineSeconds == nil {
		t.Errorf("startingDeadlineSeconds unset")
	}
	if cj.Spec.TimeZone == nil {
		t.Errorf("timeZone unset: the schedule would follow the controller manager's zone")
	} else if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
		t.Errorf("timeZone %q: %v", *cj.Spec.TimeZone, err)
	}
	fields := strings.Fields(cj.Spec.Schedule)
	if len(fields) != 5 {
		t.Fatalf("schedule %q: want 5 fields", cj.Spec.Schedule)
	}
	hourly := fields[1] == "*" && fields[2] == "*" && fields[3] == "*" && fields[4] == "*" && !strings.ContainsAny(fields[0], "*/,-")
	ads := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds
	if hourly && (ads == nil || *ads >= 3600) {
		t.Errorf("hourly schedule with activeDeadlineSeconds %v: want < 3600 so a stuck run ends before the next slot", ads)
	}
}

// failureAction is the Job controller's reading of a podFailurePolicy for a
// container that exited with code (rules in order, first match wins, no
// match counts towards backoffLimit).
func failureAction(p *batchv1.PodFailurePolicy, container string, code int32) batchv1.PodFailurePolicyAction {
	for _, r := range p.Rules {
		req := r.OnExitCodes
		if req == nil || req.ContainerName != nil && *req.ContainerName != container {
			continue
		}
		in := slices.Contains(req.Values, code)
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in || req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in {
			return r.Action
		}
	}
	return batchv1.PodFailurePolicyActionCount
}

func checkJobSpec(t *testing.T, js batchv1.JobSpec, h runHelp, uid int64) {
	if js.BackoffLimit == nil || *js.BackoffLimit > 3 {
		t.Errorf("backoffLimit = %v, want set and small (<= 3)", js.BackoffLimit)
	}
	if js.ActiveDeadlineSeconds == nil {
		t.Errorf("activeDeadlineSeconds unset")
	}
	spec := js.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q, want Never (podFailurePolicy needs it)", spec.RestartPolicy)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]

	// Exit codes.
	p := js.PodFailurePolicy
	if p == nil {
		t.Fatalf("podFailurePolicy unset")
	}
	for _, r := range p.Rules {
		if r.OnExitCodes != nil && r.OnExitCodes.ContainerName != nil && *r.OnExitCodes.ContainerName != c.Name {
			t.Errorf("podFailurePolicy rule names container %q, the pod's is %q", *r.OnExitCodes.ContainerName, c.Name)
		}
	}
	exitCodes := []struct {
		code int32
		want []batchv1.PodFailurePolicyAction
		why  string
	}{
		{1, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount}, "transient: retry"},
		{2, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionFailJob}, "usage/config: do not retry"},
		{3, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionFailJob}, "retention gap: do not retry"},
		{4, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionFailJob}, "quarantined: do not retry"},
		{5, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount}, "lock held: retry later"},
		{130, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionIgnore}, "interrupted: retry"},
		{137, []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount}, "OOM-killed: retry"},
	}
	for _, ec := range exitCodes {
		if got := failureAction(p, c.Name, ec.code); !slices.Contains(ec.want, got) {
			t.Errorf("exit code %d (%s): podFailurePolicy action %s, want one of %v", ec.code, ec.why, got, ec.want)
		}
	}
	disruption := false
	for _, r := range p.Rules {
		for _, pc := range r.OnPodConditions {
			if pc.Type == corev1.DisruptionTarget && r.Action == batchv1.PodFailurePolicyActionIgnore {
				disruption = true
			}
		}
	}
	if !disruption {
		t.Errorf("podFailurePolicy: no Ignore rule for the DisruptionTarget condition (drains and preemption would use up retries)")
	}

	// Identity.
	if spec.ServiceAccountName == "" {
		t.Errorf("serviceAccountName unset")
	}
	if got := js.Template.Labels["azure.workload.identity/use"]; got != "true" {
		t.Errorf("pod label azure.workload.identity/use = %q, want \"true\"", got)
	}

	// Security context: the container's settings win over the pod's.
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Fatalf("container %s: no securityContext", c.Name)
	}
	nonRoot := psc.RunAsNonRoot
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if !isTrue(nonRoot) {
		t.Errorf("runAsNonRoot is not true")
	}
	runAs := psc.RunAsUser
	if csc.RunAsUser != nil {
		runAs = csc.RunAsUser
	}
	if runAs != nil && *runAs != uid {
		t.Errorf("runAsUser = %d, want the Dockerfile's USER %d", *runAs, uid)
	}
	seccomp := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		seccomp = csc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile = %v, want RuntimeDefault", seccomp)
	}
	if !isTrue(csc.ReadOnlyRootFilesystem) {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, corev1.Capability("ALL")) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %v, want drop [ALL] and nothing added", csc.Capabilities)
	}

	// Resources.
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := req[r]; !ok {
			t.Errorf("resources.requests.%s unset", r)
		}
	}
	memLimit, ok := lim[corev1.ResourceMemory]
	if !ok {
		t.Fatalf("resources.limits.memory unset")
	}
	if memReq := req[corev1.ResourceMemory]; memReq.Cmp(memLimit) > 0 {
		t.Errorf("memory request %s > limit %s", memReq.String(), memLimit.String())
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if v, ok := env["GOMEMLIMIT"]; ok {
		n, err := goMemLimit(v)
		if err != nil {
			t.Errorf("GOMEMLIMIT %q: %v", v, err)
		} else if n >= memLimit.Value() {
			t.Errorf("GOMEMLIMIT %s >= memory limit %s: Go would not collect harder before the OOM killer", v, memLimit.String())
		}
	}

	// Writable temp dir on a read-only root.
	tmp := env["CALLRECORDS_TEMP_DIR"]
	if tmp == "" {
		t.Errorf("CALLRECORDS_TEMP_DIR unset: with readOnlyRootFilesystem the job needs a writable temp dir")
	} else {
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.MountPath != tmp || m.ReadOnly {
				continue
			}
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("CALLRECORDS_TEMP_DIR=%s is not a writable emptyDir mount", tmp)
		}
	}

	// Command line and environment, against the binary's own help.
	if len(c.Command) > 0 {
		t.Errorf("command %q overrides the image's ENTRYPOINT; set args only", c.Command)
	}
	if _, err := h.checkArgs(c.Args); err != nil {
		t.Error(err)
	}
	for name := range env {
		if strings.HasPrefix(name, "CALLRECORDS_") && !h.knownEnv(name) {
			t.Errorf("env %s: `callrecords-etl help run` reads no such variable", name)
		}
	}
}

// goMemLimit parses GOMEMLIMIT's syntax (a number of bytes with an optional
// B, KiB, MiB, GiB or TiB suffix).
func goMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = s, u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return 0, fmt.Errorf("not a GOMEMLIMIT value")
	}
	return n * mult, nil
}

// TestEnvironmentIsKnown checks that every variable the manifests hand the job
// (ConfigMap and Secret keys feed envFrom) is one `callrecords-etl run` reads.
func TestEnvironmentIsKnown(t *testing.T) {
	h := runFlags(t)
	for _, o := range allObjects(t) {
		var keys []string
		switch obj := o.obj.(type) {
		case *corev1.ConfigMap:
			for k := range obj.Data {
				keys = append(keys, k)
			}
		case *corev1.Secret:
			for k := range obj.StringData {
				keys = append(keys, k)
			}
			for k := range obj.Data {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if !h.knownEnv(k) {
				t.Errorf("%s: key %s is not an environment variable of `callrecords-etl run`", o, k)
			}
		}
	}
}

// TestMultiTenant checks the partner example: one CronJob per tenant, each
// reading its own tenant id from its own ConfigMap, all under one
// ServiceAccount, at different minutes.
func TestMultiTenant(t *testing.T) {
	objs := build(t, filepath.Join(k8sDir(t), "multi-tenant"))
	configMaps := map[string]*corev1.ConfigMap{}
	serviceAccounts := 0
	for _, o := range objs {
		switch obj := o.obj.(type) {
		case *corev1.ConfigMap:
			configMaps[obj.Name] = obj
		case *corev1.ServiceAccount:
			serviceAccounts++
		}
	}
	if serviceAccounts != 1 {
		t.Errorf("%d ServiceAccounts, want 1 shared by every tenant", serviceAccounts)
	}
	tenants := map[string]string{}
	schedules := map[string]string{}
	accounts := map[string]bool{}
	cronJobs := 0
	for _, o := range objs {
		cj, ok := o.obj.(*batchv1.CronJob)
		if !ok {
			continue
		}
		cronJobs++
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		accounts[spec.ServiceAccountName] = true
		var tenant string
		for _, ef := range spec.Containers[0].EnvFrom {
			if ef.ConfigMapRef != nil {
				if cm, ok := configMaps[ef.ConfigMapRef.Name]; ok {
					tenant = cm.Data["CALLRECORDS_TENANT_ID"]
				}
			}
		}
		if !isGUID(tenant) {
			t.Errorf("CronJob %s: tenant id %q from its ConfigMap is not a GUID", cj.Name, tenant)
		}
		if prev, dup := tenants[tenant]; dup {
			t.Errorf("CronJobs %s and %s read the same tenant %s", prev, cj.Name, tenant)
		}
		tenants[tenant] = cj.Name
		if prev, dup := schedules[cj.Spec.Schedule]; dup {
			t.Errorf("CronJobs %s and %s share the schedule %q; stagger them", prev, cj.Name, cj.Spec.Schedule)
		}
		schedules[cj.Spec.Schedule] = cj.Name
	}
	if cronJobs < 2 {
		t.Errorf("%d CronJobs, want one per tenant (at least 2 in the example)", cronJobs)
	}
	if len(accounts) != 1 {
		t.Errorf("CronJobs use ServiceAccounts %v, want one shared", accounts)
	}
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
