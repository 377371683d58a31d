package main

import (
	"reflect"
	"strings"
	"testing"
)

func render(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var b strings.Builder
	err := run(append([]string{"rel", "testdata/mini", "-n", "ns"}, args...), &b)
	return b.String(), err
}

func TestRenderDefaults(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"---\n# Source: mini/templates/cm.yaml\napiVersion: v1\nkind: ServiceAccount",
		"name: rel-mini\n  namespace: ns",
		`replicas: "2"`,
		`big: "1e+06"`, // float64 from YAML, as in Helm
		`bigInt: "1000000"`,
		`missing: ""`,
		`tpl: "web-x"`,
		`file: "hello file"`,
		"nested: |\n    drop: b\n    keep: a",
		`kube: "v1.32.0"`,
		`hasMon: "false"`,
		`template: "mini/templates/cm.yaml"`,
		`install: "true"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Install order: ServiceAccount, ConfigMap, Deployment; no NOTES, no CRDs, no empty docs.
	sa, cm, d := strings.Index(out, "kind: ServiceAccount"), strings.Index(out, "kind: ConfigMap"),
		strings.Index(out, "kind: Deployment")
	if !(sa < cm && cm < d) {
		t.Errorf("not in install order:\n%s", out)
	}
	// A comment-only document is kept, as helm does (kubectl skips it).
	if !strings.Contains(out, "---\n# Source: mini/templates/cm.yaml\n# only a comment\n") {
		t.Errorf("comment-only document dropped:\n%s", out)
	}
	for _, bad := range []string{"Installed", "CustomResourceDefinition"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %q:\n%s", bad, out)
		}
	}
	if n := strings.Count(out, "---\n"); n != 4 {
		t.Errorf("%d documents, want 4", n)
	}
}

func TestValuesFilesSetAndNull(t *testing.T) {
	out, err := render(t, "--set", "replicas=5,nested.drop=null,list={a,b}", "--set-string", "name=007",
		"--api-versions", "monitoring.coreos.com/v1", "--kube-version", "1.29.1", "--is-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replicas: 5\n", `tpl: "007-x"`, "nested: |\n    keep: a\n",
		`hasMon: "true"`, `kube: "v1.29.1"`, `install: "false"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "drop: b") {
		t.Errorf("null did not delete nested.drop:\n%s", out)
	}
}

func TestIncludeCRDsAndShowOnly(t *testing.T) {
	out, err := render(t, "--include-crds")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "---\n# Source: mini/crds/x.yaml\napiVersion: apiextensions.k8s.io/v1") {
		t.Errorf("CRDs not first:\n%s", out)
	}
	out, err = render(t, "-s", "templates/deploy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "ConfigMap") || !strings.Contains(out, "kind: Deployment") {
		t.Errorf("--show-only:\n%s", out)
	}
	if _, err := render(t, "-s", "templates/nope.yaml"); err == nil {
		t.Error("--show-only of a missing template succeeded")
	}
}

func TestNotes(t *testing.T) {
	out, err := render(t, "--notes")
	if err != nil || out != "Installed rel.\n" {
		t.Errorf("notes = %q, %v", out, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "name=boom"}, "execution error at (mini/templates/fail.yaml:2:4): name must not be boom"},
		{[]string{"--set", "name=req"}, "execution error at (mini/templates/fail.yaml:5:4): a value for .Values.other is required"},
		{[]string{"--kube-version", "1.19.0"}, "chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.0"},
		{[]string{"--set", "replicas"}, `key "replicas" has no value`},
		{[]string{"-f", "testdata/nope.yaml"}, "cannot read values file"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
	} {
		_, err := render(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	var b strings.Builder
	if err := run([]string{"Bad_Name", "testdata/mini"}, &b); err == nil || !strings.Contains(err.Error(), "invalid release name") {
		t.Errorf("release name: %v", err)
	}
}

func TestParseSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]interface{}
	}{
		{"a=1,b=true,c=null,d=0,e=012,f=1.5,g=x", map[string]interface{}{
			"a": int64(1), "b": true, "c": nil, "d": int64(0), "e": "012", "f": "1.5", "g": "x"}},
		{`a.b.c=x`, map[string]interface{}{"a": map[string]interface{}{"b": map[string]interface{}{"c": "x"}}}},
		{`nodeSelector.kubernetes\.io/os=linux`, map[string]interface{}{
			"nodeSelector": map[string]interface{}{"kubernetes.io/os": "linux"}}},
		{`l={a,b},m={}`, map[string]interface{}{"l": []interface{}{"a", "b"}, "m": []interface{}{}}},
		{`l[1].x=y`, map[string]interface{}{"l": []interface{}{nil, map[string]interface{}{"x": "y"}}}},
		{`s=a\,b`, map[string]interface{}{"s": "a,b"}},
	} {
		got := map[string]interface{}{}
		if err := parseSet(tc.in, got, false); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestCoalesce(t *testing.T) {
	defaults := map[string]interface{}{"a": map[string]interface{}{"x": 1.0, "y": 2.0}, "b": "keep", "c": "drop"}
	user := map[string]interface{}{"a": map[string]interface{}{"y": 3.0}, "c": nil, "d": "new"}
	got := coalesce(user, defaults)
	want := map[string]interface{}{"a": map[string]interface{}{"x": 1.0, "y": 3.0}, "b": "keep", "d": "new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestToYAML(t *testing.T) {
	got := toYAML(map[string]interface{}{"b": []interface{}{"ALL"}, "a": 1000000.0, "c": "true"})
	want := "a: 1000000\nb:\n- ALL\nc: \"true\""
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
