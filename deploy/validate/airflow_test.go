package validate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Airflow is not installed here: the DAG is compiled by python3 and read with
// Python's own ast module, not imported or run.

func dagPath(tb testing.TB) string {
	return filepath.Join(repoRoot(tb), "deploy", "airflow", "callrecords_etl_dag.py")
}

func readDAG(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile(dagPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

var dagImage = regexp.MustCompile(`(?m)^IMAGE\s*=\s*"([^"]+)"`)

// dagFacts is what pyFacts extracts from the DAG's syntax tree.
type dagFacts struct {
	Consts   map[string]any   `json:"consts"`   // module-level NAME = <literal>
	Keywords map[string][]any `json:"keywords"` // keyword arguments of every call: literal, or {"expr": source}
	Calls    []string         `json:"calls"`    // names of every called function or method
	Strings  []string         `json:"strings"`  // every string constant
	// Operator holds the keyword names given to .partial() and .expand().
	Operator map[string][]string `json:"operator"`
	// Overrides are the methods the KubernetesPodOperator subclass defines.
	Overrides []struct {
		Name string   `json:"name"`
		Args []string `json:"args"`
	} `json:"overrides"`
	Attributes []string `json:"attributes"` // self.<name> read in the subclass
}

const pyFacts = `
import ast, json, sys
src = open(sys.argv[1]).read()
tree = ast.parse(src, sys.argv[1])
consts, keywords, calls = {}, {}, []
for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        try:
            consts[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            pass
for node in ast.walk(tree):
    if isinstance(node, ast.Call):
        f = node.func
        calls.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
        for kw in node.keywords:
            if kw.arg is None:
                continue
            try:
                value = ast.literal_eval(kw.value)
            except ValueError:
                value = {"expr": ast.unparse(kw.value)}
            keywords.setdefault(kw.arg, []).append(value)
strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
# The operator's keywords (.partial and .expand), the methods the subclass
# overrides and the attributes of self it reads, checked against the pinned
# provider's source.
operator, overrides, attributes = {"partial": [], "expand": []}, [], []
for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in operator:
        operator[node.func.attr] += [kw.arg for kw in node.keywords if kw.arg]
    if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "KubernetesPodOperator" for b in node.bases):
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                overrides.append({"name": item.name, "args": [a.arg for a in item.args.args]})
                for sub in ast.walk(item):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                        attributes.append(sub.attr)
json.dump({"consts": consts, "keywords": keywords, "calls": calls, "strings": strings,
           "operator": operator, "overrides": overrides, "attributes": attributes}, sys.stdout, default=str)
`

// pinnedAirflow is what deploy/validate/testdata/airflow/*.json records of
// the pinned provider's and Airflow's published source.
type pinnedAirflow struct {
	Provider struct {
		Package    string   `json:"package"`
		Version    string   `json:"version"`
		Source     string   `json:"source"`
		InitParams []string `json:"init_params"`
		Methods    []struct {
			Name string   `json:"name"`
			Args []string `json:"args"`
		} `json:"public_methods"`
		Attributes     []string `json:"attributes"`
		XComReturnFile string   `json:"xcom_return_file"`
	} `json:"provider"`
	BaseOperator struct {
		Source string   `json:"source"`
		Params []string `json:"params"`
	} `json:"base_operator"`
}

func TestAirflowDAG(t *testing.T) {
	python := requireTool(t, "python3")
	src := dagPath(t)

	// Syntax, as Airflow's DAG processor would compile it.
	compile := exec.Command(python, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
		src, filepath.Join(t.TempDir(), "dag.pyc"))
	if out, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("py_compile %s: %v\n%s", src, err, out)
	}

	out, err := exec.Command(python, "-c", pyFacts, src).Output()
	if err != nil {
		t.Fatalf("read the DAG's syntax tree: %v", err)
	}
	var f dagFacts
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("decode DAG facts: %v\n%s", err, out)
	}

	// The window: Airflow's data interval, templated, in RFC 3339 (| ts).
	args := f.Keywords["arguments"]
	if len(args) != 1 {
		t.Fatalf("arguments= appears %d times, want once", len(args))
	}
	list, ok := args[0].([]any)
	if !ok {
		t.Fatalf("arguments = %v, want a literal list", args[0])
	}
	var argv []string
	for _, a := range list {
		s, ok := a.(string)
		if !ok {
			t.Fatalf("arguments element %v is not a string", a)
		}
		argv = append(argv, s)
	}
	h := runFlags(t)
	// What Airflow renders the templates to, for the flag check.
	rendered := map[string]string{"--from": "2026-01-01T00:00:00+00:00", "--to": "2026-01-01T01:00:00+00:00"}
	placeholder := map[string]string{}
	for i, a := range argv {
		if strings.Contains(a, "{{") && i > 0 {
			placeholder[argv[i-1]] = a
			argv[i] = rendered[argv[i-1]]
		}
	}
	if _, err := h.checkArgs(argv); err != nil {
		t.Errorf("DAG: %v", err)
	}
	from, to := placeholder["--from"], placeholder["--to"]
	if !strings.Contains(from, "data_interval_start") || !strings.Contains(from, "| ts") {
		t.Errorf("--from %q: want a template of data_interval_start with the ts filter", from)
	}
	if !strings.Contains(to, "data_interval_end") || !strings.Contains(to, "| ts") {
		t.Errorf("--to %q: want a template of data_interval_end with the ts filter", to)
	}

	// Exit codes: 5 skips, 2/3/4 fail without retries, others retry.
	if got := f.Consts["SKIP_EXIT_CODES"]; !equalInts(got, 5) {
		t.Errorf("SKIP_EXIT_CODES = %v, want [5]", got)
	}
	if got := f.Consts["FAIL_FAST_EXIT_CODES"]; !equalInts(got, 2, 3, 4) {
		t.Errorf("FAIL_FAST_EXIT_CODES = %v, want [2, 3, 4]", got)
	}
	if !hasKeyword(f, "skip_on_exit_code", "SKIP_EXIT_CODES") {
		t.Errorf("skip_on_exit_code=SKIP_EXIT_CODES not passed to the operator")
	}
	if !slices.Contains(f.Calls, "AirflowFailException") {
		t.Errorf("no AirflowFailException: exit codes 2, 3 and 4 would be retried")
	}
	codes, _ := f.Consts["EXIT_CODES"].(map[string]any)
	for _, c := range []string{"0", "1", "2", "3", "4", "5", "130"} {
		if _, ok := codes[c]; !ok {
			t.Errorf("EXIT_CODES lacks %s", c)
		}
	}

	// Scheduling and mapping.
	if !hasKeyword(f, "schedule", "@hourly") {
		t.Errorf("schedule is not @hourly: %v", f.Keywords["schedule"])
	}
	if !hasKeyword(f, "max_active_runs", float64(1)) {
		t.Errorf("max_active_runs is not 1: %v", f.Keywords["max_active_runs"])
	}
	for _, call := range []string{"partial", "expand"} {
		if !slices.Contains(f.Calls, call) {
			t.Errorf("no .%s() call: want dynamic task mapping over tenants", call)
		}
	}
	if !strings.Contains(readDAG(t), "Variable.get(") {
		t.Errorf("tenants are not read from an Airflow Variable")
	}

	// Identity and environment match deploy/kubernetes.
	labels, _ := firstLiteral(f, "labels").(map[string]any)
	if labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v: want azure.workload.identity/use: \"true\"", labels)
	}
	names := k8sNames(t)
	for key, want := range map[string]string{"SERVICE_ACCOUNT": names.serviceAccount, "CONFIGMAP": names.configMap} {
		if got := f.Consts[key]; got != want {
			t.Errorf("DAG %s = %v, want %q as in deploy/kubernetes", key, got, want)
		}
	}
	envName := regexp.MustCompile(`^CALLRECORDS_[A-Z0-9_]+$`)
	sawJSON := false
	for _, s := range f.Strings {
		if envName.MatchString(s) && !h.knownEnv(s) {
			t.Errorf("DAG sets %s, which `callrecords-etl help run` does not read", s)
		}
		if s == "json" {
			sawJSON = true
		}
	}
	if !slices.Contains(f.Strings, "CALLRECORDS_LOG_FORMAT") || !sawJSON {
		t.Errorf("DAG does not set CALLRECORDS_LOG_FORMAT to json")
	}

	checkAgainstPinnedProvider(t, f, argv)
}

// checkAgainstPinnedProvider checks the DAG against the published source of
// the provider release it pins (recorded in testdata/airflow): every keyword
// given to the operator exists in KubernetesPodOperator.__init__ or
// BaseOperator.__init__, the subclass overrides only public methods with
// their published parameters and reads only attributes the operator sets,
// and the run summary goes to the file the XCom sidecar reads.
func checkAgainstPinnedProvider(t *testing.T, f dagFacts, argv []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "airflow", "*.json"))
	if len(files) != 1 {
		t.Fatalf("testdata/airflow holds %v, want the one pinned provider release", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var pin pinnedAirflow
	if err := json.Unmarshal(data, &pin); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	if !strings.Contains(readDAG(t), pin.Provider.Version) {
		t.Errorf("the DAG does not name the pinned provider release %s %s", pin.Provider.Package, pin.Provider.Version)
	}
	known := slices.Concat(pin.Provider.InitParams, pin.BaseOperator.Params)
	if len(f.Operator["partial"]) == 0 {
		t.Fatal("no .partial(...) call with keywords found")
	}
	for _, call := range []string{"partial", "expand"} {
		for _, kw := range f.Operator[call] {
			if !slices.Contains(known, kw) {
				t.Errorf(".%s(%s=…): not a parameter of KubernetesPodOperator (%s %s) or BaseOperator", call, kw, pin.Provider.Package, pin.Provider.Version)
			}
		}
	}
	for _, m := range f.Overrides {
		i := slices.IndexFunc(pin.Provider.Methods, func(p struct {
			Name string   `json:"name"`
			Args []string `json:"args"`
		}) bool {
			return p.Name == m.Name
		})
		switch {
		case strings.HasPrefix(m.Name, "_") || i < 0:
			t.Errorf("CallRecordsPodOperator overrides %s, not a public method of the pinned operator %v: it may change in any release", m.Name, pin.Provider.Methods)
		case !slices.Equal(m.Args, pin.Provider.Methods[i].Args):
			t.Errorf("CallRecordsPodOperator.%s%v: the pinned operator's is %s%v", m.Name, m.Args, m.Name, pin.Provider.Methods[i].Args)
		}
	}
	for _, a := range f.Attributes {
		if !slices.Contains(pin.Provider.Attributes, a) {
			t.Errorf("CallRecordsPodOperator reads self.%s, which the pinned operator does not set", a)
		}
	}
	i := slices.Index(argv, "--summary-file")
	if i < 0 || i+1 >= len(argv) || argv[i+1] != pin.Provider.XComReturnFile {
		t.Errorf("arguments %v: want --summary-file %s, the file the XCom sidecar reads", argv, pin.Provider.XComReturnFile)
	}
	if !hasKeyword(f, "do_xcom_push", true) {
		t.Errorf("do_xcom_push is not True: the run summary would not reach XCom")
	}
	if slices.Contains(f.Calls, "cleanup") {
		t.Errorf("the DAG calls cleanup(), the operator's internal method")
	}
}

func equalInts(v any, want ...int) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, x := range list {
		if f, ok := x.(float64); !ok || int(f) != want[i] {
			return false
		}
	}
	return true
}

// hasKeyword reports whether some call passes name=want, a literal, or, for a
// string want, a variable of that name.
func hasKeyword(f dagFacts, name string, want any) bool {
	for _, v := range f.Keywords[name] {
		if v == want {
			return true
		}
		if m, ok := v.(map[string]any); ok && m["expr"] == want {
			return true
		}
	}
	return false
}

func firstLiteral(f dagFacts, name string) any {
	for _, v := range f.Keywords[name] {
		if m, ok := v.(map[string]any); ok && m["expr"] != nil {
			continue
		}
		return v
	}
	return nil
}

// k8sNames are the names the DAG must share with deploy/kubernetes.
type k8sObjectNames struct{ serviceAccount, configMap string }

func k8sNames(t *testing.T) k8sObjectNames {
	t.Helper()
	var n k8sObjectNames
	for _, o := range loadManifests(t, k8sDir(t)).objects {
		if spec, ok := podSpecOf(o.obj); ok && strings.HasPrefix(o.source, "base"+string(filepath.Separator)) {
			n.serviceAccount = spec.ServiceAccountName
			for _, ef := range spec.Containers[0].EnvFrom {
				if ef.ConfigMapRef != nil {
					n.configMap = ef.ConfigMapRef.Name
				}
			}
		}
	}
	if n.serviceAccount == "" || n.configMap == "" {
		t.Fatalf("deploy/kubernetes/base: no CronJob with a ServiceAccount and a ConfigMap")
	}
	return n
}
