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

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, batchv1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme} {
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
	if tm.Kind == kusttypes.KustomizationKind || tm.Kind == kusttypes.ComponentKind {
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
		for _, r := range slices.Concat(k.Resources, k.Components) {
			used[filepath.Clean(filepath.Join(dir, r))] = true
		}
	}
	var out []string
	for dir, k := range set.kustomizations {
		if !used[dir] && k.Kind != kusttypes.ComponentKind {
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
	for _, want := range []string{"*v1.CronJob", "*v1.Job", "*v1.ServiceAccount", "*v1.ConfigMap", "*v1.Secret",
		"*v1.Deployment", "*v1.Service", "*v1.Ingress", "*v1.PodDisruptionBudget"} {
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
		{"unregistered kind", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n"},
		{"removed API version", "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: x}\n"},
		{"v1beta1 Ingress backend in v1", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec:\n  rules: [{host: a.example.com, http: {paths: [{path: /n, pathType: Exact, backend: {serviceName: s, servicePort: 80}}]}}]\n"},
		{"Ingress pathType misspelt", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec:\n  rules: [{host: a.example.com, http: {paths: [{path: /n, pathtype: Exact, backend: {service: {name: s, port: {number: 80}}}}]}}]\n"},
		{"Deployment field at the wrong level", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      replicas: 2\n      containers: [{name: a, image: b}]\n"},
		{"probe handler misspelt", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: a, image: b, readinessProbe: {tcpSocked: {port: 8080}}}]\n"},
		{"Service targetPort as object", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80, targetPort: {name: http}}]\n"},
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
	valid := []struct{ name, doc string }{
		{"Job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  template: {spec: {restartPolicy: Never, containers: [{name: a, image: b}]}}\n"},
		{"Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 2\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: a, image: b, readinessProbe: {tcpSocket: {port: http}}, lifecycle: {preStop: {sleep: {seconds: 5}}}}]\n"},
		{"Ingress", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec:\n  tls: [{hosts: [a.example.com], secretName: t}]\n  rules: [{host: a.example.com, http: {paths: [{path: /n, pathType: Exact, backend: {service: {name: s, port: {name: http}}}}]}}]\n"},
		{"PodDisruptionBudget", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {minAvailable: 1, selector: {matchLabels: {a: b}}}\n"},
	}
	for _, v := range valid {
		if _, _, err := decodeManifest(dec, []byte(v.doc)); err != nil {
			t.Errorf("decodeManifest(valid %s) = %v, want nil", v.name, err)
		}
	}
}

func TestKustomizeBuilds(t *testing.T) {
	set := loadManifests(t, k8sDir(t))
	entries := entryPoints(set)
	if len(entries) < 3 {
		t.Fatalf("entry points %v: want the single-tenant, the multi-tenant and the notifications kustomizations", entries)
	}
	examples := exampleSecrets(set)
	dirs := slices.Sorted(maps.Keys(set.kustomizations))
	for _, dir := range dirs {
		if set.kustomizations[dir].Kind == kusttypes.ComponentKind {
			continue // built as part of the entry points that include it
		}
		rel, _ := filepath.Rel(k8sDir(t), dir)
		t.Run(rel, func(t *testing.T) {
			objs := build(t, dir)
			if len(objs) == 0 {
				t.Fatalf("kustomize build %s rendered nothing", rel)
			}
			if slices.Contains(entries, dir) {
				if onlyJobs(objs) && dir != k8sDir(t) {
					// An add-on created next to an installed deployment
					// (the backfill): what it refers to comes from that.
					objs = append(objs, build(t, k8sDir(t))...)
				}
				checkInstallable(t, objs, examples)
			}
		})
	}
}

// onlyJobs reports whether objs are all Jobs.
func onlyJobs(objs []object) bool {
	for _, o := range objs {
		if _, ok := o.obj.(*batchv1.Job); !ok {
			return false
		}
	}
	return len(objs) > 0
}

// exampleSecrets are the Secrets of the *.example.yaml files: not applied,
// they document Secrets created out of band (name and keys).
func exampleSecrets(set manifestSet) map[string]*corev1.Secret {
	out := map[string]*corev1.Secret{}
	for _, o := range set.objects {
		file, _, _ := strings.Cut(o.source, ":")
		if s, ok := o.obj.(*corev1.Secret); ok && strings.HasSuffix(file, ".example.yaml") {
			out[s.Name] = s
		}
	}
	return out
}

// secretKeys are the keys of a Secret as written (stringData) or encoded (data).
func secretKeys(s *corev1.Secret) []string {
	keys := slices.Collect(maps.Keys(s.StringData))
	for k := range s.Data {
		keys = append(keys, k)
	}
	return keys
}

// configRef is a pod's reference to a ConfigMap or Secret: a whole one
// (envFrom, key empty) or one key (env valueFrom).
type configRef struct {
	kind      string // ConfigMap or Secret
	name, key string
	optional  bool
	container string
}

// configRefs lists the ConfigMaps and Secrets a pod's containers read.
func configRefs(spec corev1.PodSpec) []configRef {
	var refs []configRef
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, ef := range c.EnvFrom {
			if r := ef.ConfigMapRef; r != nil {
				refs = append(refs, configRef{"ConfigMap", r.Name, "", isTrue(r.Optional), c.Name})
			}
			if r := ef.SecretRef; r != nil {
				refs = append(refs, configRef{"Secret", r.Name, "", isTrue(r.Optional), c.Name})
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				refs = append(refs, configRef{"ConfigMap", r.Name, r.Key, isTrue(r.Optional), c.Name})
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				refs = append(refs, configRef{"Secret", r.Name, r.Key, isTrue(r.Optional), c.Name})
			}
		}
	}
	return refs
}

// checkInstallable checks that a rendered entry point stands on its own: every
// pod's ServiceAccount and every non-optional ConfigMap or Secret it reads
// (whole, or the one key) is in the output, or, for a Secret, is documented
// by an example manifest (*.example.yaml) with that key, to be created out of
// band; and the ServiceAccount carries both federations.
func checkInstallable(t *testing.T, objs []object, examples map[string]*corev1.Secret) {
	t.Helper()
	have := map[string]object{}
	for _, o := range objs {
		m := o.obj.(metav1.Object)
		have[fmt.Sprintf("%T/%s", o.obj, m.GetName())] = o
		if ns := m.GetNamespace(); ns == "" {
			t.Errorf("%s: no namespace; the kustomization should set one", o)
		}
	}
	pods := 0
	for _, o := range objs {
		spec, ok := podSpecOf(o.obj)
		if !ok {
			continue
		}
		pods++
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
		for _, ref := range configRefs(spec) {
			if ref.optional {
				continue
			}
			var keys []string
			got, inBuild := have["*v1."+ref.kind+"/"+ref.name]
			switch {
			case inBuild && ref.kind == "ConfigMap":
				keys = slices.Collect(maps.Keys(got.obj.(*corev1.ConfigMap).Data))
			case inBuild:
				keys = secretKeys(got.obj.(*corev1.Secret))
			case ref.kind == "Secret" && examples[ref.name] != nil:
				keys = secretKeys(examples[ref.name])
			default:
				t.Errorf("%s: container %s reads %s %q, which is neither in the build nor optional nor documented by a *.example.yaml", o, ref.container, ref.kind, ref.name)
				continue
			}
			if ref.key != "" && !slices.Contains(keys, ref.key) {
				t.Errorf("%s: container %s reads key %s of %s %q, which has only %v", o, ref.container, ref.key, ref.kind, ref.name, keys)
			}
		}
	}
	if pods == 0 {
		t.Errorf("build has no CronJob, Job or Deployment")
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// deref prints what p points to, or "unset".
func deref[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// podTemplateOf returns the pod template of a CronJob, Job or Deployment.
func podTemplateOf(obj runtime.Object) (corev1.PodTemplateSpec, bool) {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template, true
	case *batchv1.Job:
		return o.Spec.Template, true
	case *appsv1.Deployment:
		return o.Spec.Template, true
	}
	return corev1.PodTemplateSpec{}, false
}

// podSpecOf returns the pod spec of a CronJob, Job or Deployment.
func podSpecOf(obj runtime.Object) (corev1.PodSpec, bool) {
	tmpl, ok := podTemplateOf(obj)
	return tmpl.Spec, ok
}

// objectGroup is a set of objects meant to be applied together: the files as
// written, or what one entry point renders.
type objectGroup struct {
	name string
	objs []object
}

// objectGroups are the files of deploy/kubernetes as written and what each
// entry point renders (name suffixes, namespaces, image tags, patches and
// replacements applied).
func objectGroups(t *testing.T) []objectGroup {
	t.Helper()
	set := loadManifests(t, k8sDir(t))
	groups := []objectGroup{{"deploy/kubernetes files", set.objects}}
	for _, dir := range entryPoints(set) {
		rel, _ := filepath.Rel(k8sDir(t), dir)
		groups = append(groups, objectGroup{"build(" + rel + ")", build(t, dir)})
	}
	return groups
}

// allObjects is every object of every group.
func allObjects(t *testing.T) []object {
	t.Helper()
	var objs []object
	for _, g := range objectGroups(t) {
		objs = append(objs, g.objs...)
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
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
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
		version, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "v" + strings.TrimSpace(string(version)); tag != want {
			t.Errorf("image %q: want tag %s, what make image builds from VERSION", ref, want)
		}
	}
}

// TestImageFromOnePlace: one kustomize Component sets the image, and every
// entry point — the backfill Job's included — takes its workloads' image from
// it: an override there reaches every CronJob, Deployment and Job.
func TestImageFromOnePlace(t *testing.T) {
	set := loadManifests(t, k8sDir(t))
	var owners []string
	for dir, k := range set.kustomizations {
		if len(k.Images) > 0 {
			owners = append(owners, dir)
		}
	}
	if len(owners) != 1 || set.kustomizations[owners[0]].Kind != kusttypes.ComponentKind {
		t.Fatalf("images: set in %v, want in one Component only", owners)
	}
	component := owners[0]
	img := set.kustomizations[component].Images[0]
	want := img.Name + ":" + img.NewTag
	jobs := 0
	for _, dir := range entryPoints(set) {
		rel, _ := filepath.Rel(k8sDir(t), dir)
		includes := false
		for _, c := range set.kustomizations[dir].Components {
			includes = includes || filepath.Clean(filepath.Join(dir, c)) == component
		}
		if !includes {
			t.Errorf("entry point %s does not include the image component %s", rel, component)
		}
		for _, o := range build(t, dir) {
			if _, ok := o.obj.(*batchv1.Job); ok {
				jobs++
			}
			if spec, ok := podSpecOf(o.obj); ok {
				for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
					if c.Image != want {
						t.Errorf("build(%s): %s runs %s, want the component's %s", rel, o, c.Image, want)
					}
				}
			}
		}
	}
	if jobs == 0 {
		t.Error("no entry point renders the backfill Job: an image override would not reach it")
	}
}

func TestJobsAreSafe(t *testing.T) {
	uid := dockerfileUID(t)
	jobs := 0
	commands := map[string]int{}
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
		if len(js.Template.Spec.Containers) > 0 {
			if cmd, err := commandOf(js.Template.Spec.Containers[0].Args); err == nil {
				commands[strings.Join(cmd, " ")]++
			}
		}
		t.Run(o.String(), func(t *testing.T) {
			if isCronJob {
				checkCronJob(t, cj)
			}
			checkJobSpec(t, js, uid, isCronJob)
		})
	}
	if jobs < 3 {
		t.Errorf("checked %d CronJobs and Jobs, want at least the CronJob, the backfill Job and a rendered CronJob", jobs)
	}
	for _, cmd := range []string{"run", "subscribe"} {
		if commands[cmd] == 0 {
			t.Errorf("no Job or CronJob runs %s; checked %v", cmd, commands)
		}
	}
}

func checkCronJob(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds == nil {
		t.Errorf("startingDeadlineSeconds unset")
	} else if *sds < 10 {
		t.Errorf("startingDeadlineSeconds = %d: below 10 the controller (which checks every 10 s) may never start a Job", *sds)
	}
	loc := time.UTC
	if cj.Spec.TimeZone == nil {
		t.Errorf("timeZone unset: the schedule would follow the controller manager's zone")
	} else if l, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
		t.Errorf("timeZone %q: %v", *cj.Spec.TimeZone, err)
	} else {
		loc = l
	}
	shortest, _, err := cronGaps(cj.Spec.Schedule, loc)
	if err != nil {
		t.Fatalf("schedule: %v", err)
	}
	ads := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds
	if ads == nil || time.Duration(*ads)*time.Second >= shortest {
		t.Errorf("schedule %q (every %s at the shortest) with activeDeadlineSeconds %s: want below the period, so a stuck run ends before the next slot",
			cj.Spec.Schedule, shortest, deref(ads))
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

// exitExpectation is what a Job must do when its container exits with code.
type exitExpectation struct {
	code int32
	want []batchv1.PodFailurePolicyAction
	why  string
}

var (
	count   = batchv1.PodFailurePolicyActionCount
	failJob = batchv1.PodFailurePolicyActionFailJob
	ignore  = batchv1.PodFailurePolicyActionIgnore
)

// exitPolicies are the exit codes of each command that runs as a Job, and
// what the Job's podFailurePolicy must do with them (README, main.go).
var exitPolicies = map[string][]exitExpectation{
	"run": {
		{1, []batchv1.PodFailurePolicyAction{count}, "transient: retry"},
		{2, []batchv1.PodFailurePolicyAction{failJob}, "usage/config: do not retry"},
		{3, []batchv1.PodFailurePolicyAction{failJob}, "retention gap: do not retry"},
		{4, []batchv1.PodFailurePolicyAction{failJob}, "quarantined: do not retry"},
		{5, []batchv1.PodFailurePolicyAction{ignore, count}, "lock held: retry later (a scheduled run must skip instead, see lockHeldScheduled)"},
		{130, []batchv1.PodFailurePolicyAction{count, ignore}, "interrupted: retry"},
		{137, []batchv1.PodFailurePolicyAction{count}, "OOM-killed: retry"},
	},
	"maintain": {
		{1, []batchv1.PodFailurePolicyAction{count}, "transient (the store, the catalog): retry"},
		{2, []batchv1.PodFailurePolicyAction{failJob}, "usage/config: do not retry"},
		{130, []batchv1.PodFailurePolicyAction{count, ignore}, "interrupted: retry"},
		{137, []batchv1.PodFailurePolicyAction{count}, "OOM-killed: retry"},
	},
	"subscribe": {
		{1, []batchv1.PodFailurePolicyAction{count}, "transient (Graph, network, URL validation): retry"},
		{2, []batchv1.PodFailurePolicyAction{failJob}, "usage/config: do not retry"},
		{130, []batchv1.PodFailurePolicyAction{count, ignore}, "interrupted: retry"},
		{137, []batchv1.PodFailurePolicyAction{count}, "OOM-killed: retry"},
	},
}

// lockHeldScheduled: a scheduled run that finds the tenant's lease held by
// a live run (a backfill, Airflow, a manual run) is a skipped run, not a
// failure to retry: recreating its pod every few seconds until the holder
// ends (or the Job's deadline) only adds failed pods; the next schedule runs.
var lockHeldScheduled = exitExpectation{5, []batchv1.PodFailurePolicyAction{failJob}, "lock held by a live run: this schedule is skipped"}

func checkJobSpec(t *testing.T, js batchv1.JobSpec, uid int64, scheduled bool) {
	if js.BackoffLimit == nil || *js.BackoffLimit > 3 {
		t.Errorf("backoffLimit = %s, want set and small (<= 3)", deref(js.BackoffLimit))
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
	cmd, err := commandOf(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	h := commandHelp(t, cmd...)
	policy, ok := exitPolicies[strings.Join(cmd, " ")]
	if !ok {
		t.Fatalf("command %q does not run as a Job (no exit-code policy known)", cmd)
	}

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
	for _, ec := range policy {
		if scheduled && ec.code == lockHeldScheduled.code {
			ec = lockHeldScheduled
		}
		if got := failureAction(p, c.Name, ec.code); !slices.Contains(ec.want, got) {
			t.Errorf("%s exit code %d (%s): podFailurePolicy action %s, want one of %v", cmd, ec.code, ec.why, got, ec.want)
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

	checkIdentity(t, js.Template)
	checkSecurity(t, spec, c, uid)
	env := checkResources(t, c)
	checkCommandLine(t, c, h)

	// Writable temp dir on a read-only root: run writes temporary Parquet files.
	if slices.Equal(cmd, cmdRun) {
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
	}
}

// checkIdentity checks that a pod can reach Graph and S3 through the
// ServiceAccount's federations.
func checkIdentity(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	if tmpl.Spec.ServiceAccountName == "" {
		t.Errorf("serviceAccountName unset")
	}
	if got := tmpl.Labels["azure.workload.identity/use"]; got != "true" {
		t.Errorf("pod label azure.workload.identity/use = %q, want \"true\"", got)
	}
}

// checkSecurity checks the pod's and the container's security context: the
// container's settings win over the pod's.
func checkSecurity(t *testing.T, spec corev1.PodSpec, c corev1.Container, uid int64) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Errorf("container %s: no securityContext", c.Name)
		return
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
	if isTrue(csc.Privileged) {
		t.Errorf("privileged is true")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, corev1.Capability("ALL")) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %v, want drop [ALL] and nothing added", csc.Capabilities)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken is not false: the binary never calls the Kubernetes API")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("pod shares the host's network, PID or IPC namespace")
	}
}

// checkResources checks requests and limits and returns the container's
// literal environment values.
func checkResources(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := req[r]; !ok {
			t.Errorf("resources.requests.%s unset", r)
		}
	}
	memLimit, ok := lim[corev1.ResourceMemory]
	if !ok {
		t.Errorf("resources.limits.memory unset")
		return env
	}
	if memReq := req[corev1.ResourceMemory]; memReq.Cmp(memLimit) > 0 {
		t.Errorf("memory request %s > limit %s", memReq.String(), memLimit.String())
	}
	if v, ok := env["GOMEMLIMIT"]; ok {
		n, err := goMemLimit(v)
		if err != nil {
			t.Errorf("GOMEMLIMIT %q: %v", v, err)
		} else if n >= memLimit.Value() {
			t.Errorf("GOMEMLIMIT %s >= memory limit %s: Go would not collect harder before the OOM killer", v, memLimit.String())
		}
	}
	return env
}

// checkCommandLine checks a container's args and environment against the
// help of the command it runs.
func checkCommandLine(t *testing.T, c corev1.Container, h cmdHelp) {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("command %q overrides the image's ENTRYPOINT; set args only", c.Command)
	}
	if _, err := h.checkArgs(c.Args); err != nil {
		t.Error(err)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "CALLRECORDS_") && !h.knownEnv(e.Name) {
			t.Errorf("env %s: `callrecords-etl %s` reads no such variable", e.Name, strings.Join(h.command, " "))
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

// TestEnvironmentIsKnown checks that every key of a ConfigMap or Secret that
// pods take whole (envFrom) is an environment variable that at least one of
// those pods' commands reads, and that every ConfigMap and Secret is read by
// some pod of its group.
func TestEnvironmentIsKnown(t *testing.T) {
	for _, g := range objectGroups(t) {
		// ConfigMap or Secret name -> the commands that take it whole, and
		// whether anything reads it at all.
		wholeBy := map[string][]cmdHelp{}
		read := map[string]bool{}
		for _, o := range g.objs {
			spec, ok := podSpecOf(o.obj)
			if !ok {
				continue
			}
			for _, c := range spec.Containers {
				cmd, err := commandOf(c.Args)
				if err != nil {
					continue // reported by the workload tests
				}
				h := commandHelp(t, cmd...)
				for _, ref := range configRefs(corev1.PodSpec{Containers: []corev1.Container{c}}) {
					id := ref.kind + "/" + ref.name
					read[id] = true
					if ref.key == "" {
						wholeBy[id] = append(wholeBy[id], h)
					}
				}
			}
		}
		for _, o := range g.objs {
			var id string
			var keys []string
			switch obj := o.obj.(type) {
			case *corev1.ConfigMap:
				id, keys = "ConfigMap/"+obj.Name, slices.Collect(maps.Keys(obj.Data))
			case *corev1.Secret:
				id, keys = "Secret/"+obj.Name, secretKeys(obj)
			default:
				continue
			}
			if !read[id] {
				t.Errorf("%s: %s: no pod of this group reads it", g.name, o)
				continue
			}
			slices.Sort(keys)
			for _, k := range keys {
				known := false
				for _, h := range wholeBy[id] {
					known = known || h.knownEnv(k)
				}
				if len(wholeBy[id]) > 0 && !known {
					t.Errorf("%s: %s: key %s is not an environment variable of any command that reads it", g.name, o, k)
				}
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
